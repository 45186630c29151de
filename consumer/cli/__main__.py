"""``python -m consumer.cli``: the same as the ``wirefeed`` script."""

from consumer.cli import main

main()
