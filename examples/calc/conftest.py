# Lets tests import calc from the project root.
