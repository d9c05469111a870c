from causeway.cli import main

main()
