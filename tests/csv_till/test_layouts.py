"""French till exports under their other header names, and a file no layout knows: its columns
named, the `columns` mapping to add shown, and that mapping then read by `syncd till parse`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.connectors.csv_till.presets import columns_snippet

# The export of issue 21: the SKU under a bare "Code".
FRENCH_CODE = (
    "Ticket;Date;Code;Désignation;Quantité\r\n"
    "T-101;14/03/2026 12:00;MUG-1;Mug « été »;2\r\n"
    "T-101;14/03/2026 12:00;CAP-1;Casquette;1\r\n"
    "T-102;14/03/2026 12:07;MUG-1;Mug « été »;1\r\n"
)


@pytest.mark.parametrize(
    "header",
    [
        "Ticket;Date;Code;Désignation;Quantité",
        "N° ticket;Date;Code article;Libellé;Qté",
        "Numéro de ticket;Date;Réf.;Article;Quantite",
        "Ticket;Date;Code produit;Désignation;Qte",
        "Date;Ticket;Référence;Désignation;Quantité",
    ],
)
def test_the_french_layout_takes_the_names_french_tills_use(header: str) -> None:
    rows = "T-101;14/03/2026 12:00;MUG-1;Mug;2\r\nT-102;14/03/2026 12:07;MUG-1;Mug;1\r\n"
    if header.startswith("Date;"):
        rows = rows.replace("T-101;14/03/2026 12:00", "14/03/2026 12:00;T-101")
        rows = rows.replace("T-102;14/03/2026 12:07", "14/03/2026 12:07;T-102")
    result = parse_bytes(f"{header}\r\n{rows}".encode("cp1252"), "ventes.csv", ParseOptions())
    assert result.ok, result.unreadable
    assert result.preset == "generic_fr"
    assert {d.doc_id: dict(d.lines) for d in result.documents} == {
        "T-101": {"MUG-1": 2},
        "T-102": {"MUG-1": 1},
    }


def test_till_parse_reads_the_french_export_of_issue_21(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ventes.csv"
    path.write_text(FRENCH_CODE, encoding="utf-8")
    assert main(["till", "parse", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset"] == "generic_fr" and report["unreadable"] == ""
    assert [d["lines"] for d in report["documents"]] == [{"MUG-1": 2, "CAP-1": 1}, {"MUG-1": 1}]


UNKNOWN = "N°;Jour;Cod;Nom;Qty.\r\nT1;14/03/2026;MUG-1;Mug;2\r\nT2;14/03/2026;CAP-1;Cap;1\r\n"


def test_a_file_no_layout_knows_names_its_columns_and_the_mapping_to_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(UNKNOWN, encoding="utf-8")
    result = parse_bytes(UNKNOWN.encode(), "export.csv", ParseOptions(), channel="shop_till")
    assert result.unreadable.startswith(
        "no known till export layout matches this file's columns "
        '("N°", "Jour", "Cod", "Nom", "Qty."): say which column holds what with a columns '
        "mapping under [channels.shop_till] in the config, "
        'e.g. columns = { sku = "Cod", quantity = "Qty." }'
    )
    assert main(["till", "parse", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Its columns: 'N°', 'Jour', 'Cod', 'Nom', 'Qty.'" in err
    snippet = columns_snippet(["N°", "Jour", "Cod", "Nom", "Qty."])
    assert f"    {snippet.splitlines()[1]}\n" in err
    # The snippet is TOML that, added to the till's table, makes the file readable.
    mapping = tomllib.loads(snippet)["channels"]["till"]["columns"]
    assert mapping == {"sku": "Cod", "quantity": "Qty."}
    mapping["receipt"] = "N°"
    pairs = ", ".join(f'{role} = "{name}"' for role, name in mapping.items())
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[channels.till]\ntype = "csv_till"\ndrop_folder = "in"\ncolumns = {{ {pairs} }}\n',
        encoding="utf-8",
    )
    assert main(["till", "parse", str(path), "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset"] == "generic"
    assert [d["lines"] for d in report["documents"]] == [{"MUG-1": 2}, {"CAP-1": 1}]


def test_the_snippet_quotes_header_names_as_toml_strings() -> None:
    snippet = columns_snippet(['Qty"', "SKU\\"])
    assert tomllib.loads(snippet)["channels"]["till"]["columns"] == {
        "sku": "SKU\\",
        "quantity": 'Qty"',
    }
