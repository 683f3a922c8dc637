from stack.demo import main

main()
