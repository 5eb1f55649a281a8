"""`python -m lib ...` runs the book runner (see `lib.runner.cli`)."""
from lib.runner.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
