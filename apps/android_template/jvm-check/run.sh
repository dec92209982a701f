#!/bin/sh
# Compile the app's pure-Kotlin core with this checker and run it on a plain JVM:
#   jvm-check/run.sh tokenize app/src/main/assets texts.properties 128
# Needs kotlinc (1.3 or newer) and java. The Android backends and activities are not compiled.
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../edgesdk/src/main/kotlin/dev/edgesdk"
jar="$here/build/jvm-check.jar"
if [ ! -f "$jar" ] || [ -n "$(find "$src" "$here/JvmCheck.kt" -newer "$jar" -name '*.kt')" ]; then
  mkdir -p "$here/build"
  kotlinc "$src/WordPieceTokenizer.kt" "$src/ExitController.kt" "$src/Assets.kt" "$src/Benchmark.kt" "$here/JvmCheck.kt" \
    -include-runtime -d "$jar"
fi
exec java -cp "$jar" dev.edgesdk.check.JvmCheckKt "$@"
