from localread.cli import main

main()
