"""HTTP routers; ``civility.service.app.ROUTER_MODULES`` lists the ones the app mounts."""
