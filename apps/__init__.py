"""App and firmware packagers (edgesdk.apps): a registry (package.py) with the Android Studio
project (android.py), the Linux-board runner folder (linux.py) and the MCU firmware project
(mcu.py), each checked where its toolchain exists."""
