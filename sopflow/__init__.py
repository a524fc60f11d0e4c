"""sopflow: configuration and the command line that composes the other packages."""
