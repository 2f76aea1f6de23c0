"""Till export samples in each preset's real header layout (written from the reference)."""

from __future__ import annotations

SQUARE_HEADER = (
    "Date,Time,Time Zone,Category,Item,Qty,Price Point Name,SKU,Modifiers Applied,Gross Sales,"
    "Discounts,Net Sales,Tax,Transaction ID,Payment ID,Device Name,Notes,Details,Event Type,Location,"
    "Dining Option,Customer ID,Customer Name,Customer Reference ID,Unit,Count,GTIN,Itemization Type,"
    "Commission,Employee,Fulfillment Note,Channel,Token,Card Brand,PAN Suffix"
)


def square_row(
    date: str,
    item: str,
    qty: str,
    sku: str,
    txn: str,
    event: str = "Payment",
    gtin: str = "",
    token: str = "",
    modifiers: str = "",
) -> str:
    cells = [
        date,
        "12:59:30",
        "Eastern Time (US & Canada)",
        "Shirts",
        item,
        qty,
        "Regular",
        sku,
        f'"{modifiers}"',
        "$8.00",
        "$0.00",
        "$8.00",
        "$0.00",
        txn,
        "P" + txn,
        "Till 1",
        "",
        "",
        event,
        "Main",
        "",
        "",
        "",
        "",
        "",
        "",
        gtin,
        "Physical Good",
        "",
        "Ann",
        "",
        "POS",
        token,
        "",
        "",
    ]
    return ",".join(cells)


SQUARE = (
    "\r\n".join(
        [
            SQUARE_HEADER,
            square_row(
                "2026-07-18",
                "Blue shirt 44",
                "1.0",
                "SHIRT-0000-44",
                "T1",
                modifiers="12oz, Oat Milk",
            ),
            square_row("2026-07-18", "Blue shirt 44", "1.0", "SHIRT-0000-44", "T1"),
            square_row("2026-07-18", "Red shirt 40", "2.0", "", "T2", gtin="2000000000022"),
            square_row("2026-07-18", "Cap", "1.0", "", "T3", token="TOKEN-CAP"),
            square_row("2026-07-18", "Blue shirt 44", "1.0", "SHIRT-0000-44", "T1", event="Refund"),
            square_row("2026-07-18", "Mystery", "1.0", "", "T4"),
        ]
    )
    + "\r\n"
)

LOYVERSE = (
    "\ufeffDate,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
    "7/28/26 1:33 PM,4-10378,Sale,Shirts,SHIRT-0000-44,Shirt,44,,1,90.00,0.00,90.00,40.00,50.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
    "7/28/26 1:33 PM,4-10378,Sale,Shirts,SHIRT-0001-40,Shirt,40,,2,90.00,0.00,90.00,40.00,50.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
    "7/28/26 2:10 PM,4-10379,Refund,Shirts,SHIRT-0001-40,Shirt,40,,-1,-90.00,0.00,-90.00,-40.00,-50.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
    "7/28/26 2:15 PM,4-10380,Sale,Shirts,SHIRT-0000-44,Shirt,44,,1,90.00,0.00,90.00,40.00,50.00,0.00,POS 1,Shop,Ann,,,,Cancelled\n"
    "7/28/26 2:20 PM,4-10381,Sale,Shirts,SHIRT-0000-44,Shirt,44,,two,90.00,0.00,90.00,40.00,50.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
)

SUMUP = (
    "Datum,Typ,Transaktionsnummer,Zahlungsmethode,Menge,Beschreibung,Category,Sku,Währung,"
    "Preis vor Rabatt,Rabatt,Preis (brutto),Preis (netto),Steuer,Steuersatz,Konto\n"
    '"18.07.2026, 10:02",Verkauf,TX-1,Karte,1,Hemd blau 44,Hemden,SHIRT-0000-44,EUR,49.00,0.00,49.00,41.18,7.82,19%,shop@example.com\n'
    '"18.07.2026, 10:30",Rückerstattung,TX-1,Karte,1,Hemd blau 44,Hemden,SHIRT-0000-44,EUR,49.00,0.00,49.00,41.18,7.82,19%,shop@example.com\n'
    '"18.07.2026, 11:00",Verkauf,TX-2,Bar,3,Mütze,Mützen,CAP-1,EUR,9.00,0.00,27.00,22.69,4.31,19%,shop@example.com\n'
)

# Synthetic (no French till export header could be verified): Excel-FR conventions.
GENERIC_FR = (
    "Date;Ticket;Référence;Désignation;Quantité;Prix TTC;Total TTC\r\n"
    "31/12/2025 14:05;T-001;SHIRT-0000-44;Chemise bleue, taille 44;1;49,90;49,90\r\n"
    "31/12/2025 14:05;T-001;CAP-1;Casquette « été »;2;12,50;25,00\r\n"
    "31/12/2025 15:00;T-002;CAP-1;Casquette « été »;-1;12,50;-12,50\r\n"
    "31/12/2025 15:10;T-003;CAP-1;Casquette;1,5;12,50;18,75\r\n"
).encode("cp1252")
