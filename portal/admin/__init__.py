"""What a school admin does every week: accounts, classes, settings, figures."""
