from crossmost_train.cli import main

raise SystemExit(main())
