"""Rows and columns of the papers' transcribed tables (config/reported) as the report looks them up."""

from __future__ import annotations

from pathlib import Path

import pytest

from dca.report.reported import find_column, find_row, load_reported

REPORTED = Path(__file__).resolve().parents[2] / "config" / "reported"


def test_dca_table1_rows_by_selector() -> None:
    """Table 1 rows are (model, dca): a YAML boolean selects yes/no; the first column alone is ambiguous."""
    frame = load_reported(REPORTED / "dca_table1.csv")
    row = find_row(frame, {"model": "U-Net", "dca": True}, "U-Net (DCA)")
    assert row["glas_dsc"] == "89.66" and row["params_m"] == "8.75"
    with pytest.raises(ValueError, match="matches 2 rows"):
        find_row(frame, None, "U-Net")
    assert find_column(list(frame.columns), "kvasir", "dice", None, single=False) == "kvasir_dsc"
    assert find_column(list(frame.columns), "kvasir", "hd95", None, single=False) is None


def test_din_tables_by_label_and_alias() -> None:
    """Single-dataset tables use bare metric and class columns; cvc is ClinicDB in DIN Table 13."""
    synapse = load_reported(REPORTED / "din_table1_synapse.csv")
    row = find_row(synapse, "DIN (Ours)", "ignored")
    assert row[find_column(list(synapse.columns), "synapse", "dice", "kidney_l", single=True)] == "87.47"
    assert find_row(synapse, None, "Not in the paper") is None
    binary = load_reported(REPORTED / "din_table13_binary.csv")
    assert find_column(list(binary.columns), "cvc", "dice", None, single=False) == "clinicdb_dice"
