"""A package only so that setuptools ships the migrations inside the installed ``bot`` package."""
