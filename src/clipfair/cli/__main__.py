from clipfair.cli import main

main()
