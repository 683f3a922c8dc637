from txwatch.exporter.cli import main

main()
