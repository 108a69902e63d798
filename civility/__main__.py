from civility.cli import app

app()
