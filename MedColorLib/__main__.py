from MedColorLib.cli.main import main

main()
