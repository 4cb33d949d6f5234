from tillpoint.cli import main

main()
