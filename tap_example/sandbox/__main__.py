"""`python -m tap_example.sandbox`: same as the `tap-example-sandbox` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
