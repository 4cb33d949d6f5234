from tillpoint.cli import run

run()
