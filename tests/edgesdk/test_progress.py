"""What users read on stderr: status lines, progress lines, warnings and errors keep every
character of their message, brackets included (rich would read `[int8]` as a style tag)."""

from edgesdk.targets.budgets import KNOBS

from edgesdk.progress import error, progress_bar, status, warning


def test_messages_with_brackets_are_printed_verbatim(capsys):
    assert "quantize.precisions: [int8]" in KNOBS  # the fit error's advice, as users see it
    error(f"nothing fits cortex-m4: smallest artifact artifacts/model.tflite; try {KNOBS}")
    warning("column 'text[en]' has 2 empty rows in data[v2]/train.tsv")
    status("data: 10 train / 5 dev rows, labels [neg], [pos]")
    with progress_bar("verify [int8] student", 2) as bar:
        bar.advance(2, info="loss [bold]0.5")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"error: nothing fits cortex-m4: smallest artifact artifacts/model.tflite; try {KNOBS}"
    assert lines[1] == "warning: column 'text[en]' has 2 empty rows in data[v2]/train.tsv"
    assert lines[2] == "> data: 10 train / 5 dev rows, labels [neg], [pos]"
    assert "  verify [int8] student: 2/2 loss [bold]0.5" in lines  # the non-terminal progress line
