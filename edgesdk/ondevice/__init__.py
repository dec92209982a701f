"""What runs on the device besides the model: the WordPiece tokenizer's spec and its C tables,
and the escaping of strings that end up in generated Kotlin, C, Gradle and properties files.

Below both targets/ (the fit check counts the tables' flash) and apps/ (the packagers write them).
"""
