"""The bottom layer: user errors, messages, atomic files, signal handling. Imports nothing from livehdr."""
