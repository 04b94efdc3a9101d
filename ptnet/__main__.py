from ptnet.cli import main

main()
