from txwatch.stack.demo import main

raise SystemExit(main())
