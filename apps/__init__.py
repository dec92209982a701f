"""App and firmware packagers (edgesdk.apps); the Android and MCU packagers land here."""
