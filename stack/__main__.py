from txwatch.stack.demo import main

main()
