from gateway_kit.cli import main

main()
