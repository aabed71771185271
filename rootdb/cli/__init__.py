"""The command line: `rootdb.cli.main:app`. Only parses, calls the library, renders."""
