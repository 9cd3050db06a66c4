"""Editions, free editions, evidence-named applications and always-on clients (issue 11, item 6)."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import ExecutableIdentity, Fingerprint
from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.name.evidence import build_edition_index, clean_product_name, vendor_display
from streams.pipeline.name.fingerprint import fingerprint, fingerprint_lines
from streams.pipeline.name.product import name_product

ADOBE = "Adobe Inc."
ACROBAT = r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe"
ZWSOFT = "ZWSOFT CO., LTD.(Guangzhou)"


def _check(matcher, identity, expected):
    result = fingerprint(matcher, ExecutableIdentity(**identity), explain=True)
    assert {k: getattr(result, k) for k in expected} == expected, result.explain


FREE_EDITIONS = [
    pytest.param(
        {"exe_path": ACROBAT, "product_name": "Adobe Acrobat Reader DC", "version": "23.8.20458.0"},
        {"product": "Adobe Acrobat Reader", "license_model": "free", "edition": None},
        id="acrobat.exe named reader by its version resource, unsigned",
    ),
    pytest.param(
        {"exe_path": ACROBAT, "publisher": ADOBE, "product_name": "Adobe Acrobat Reader (64-bit)"},
        {"product": "Adobe Acrobat Reader", "license_model": "free"},
        id="64-bit reader: the architecture note does not hide the product name",
    ),
    pytest.param(
        {"exe_path": ACROBAT, "publisher": ADOBE, "product_name": "Adobe Acrobat Pro DC"},
        {"product": "Adobe Acrobat", "edition": "Pro", "license_model": "subscription_seat"},
        id="acrobat pro stays the paid product",
    ),
    pytest.param(
        {"exe_path": r"C:\Apps\Acrobat.exe", "publisher": ADOBE, "file_description": "Adobe Acrobat Reader"},
        {"product": "Adobe Acrobat", "edition": "Reader", "license_model": "free"},
        id="a free edition in the file description makes the paid product free",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Autodesk\AutoCAD 2024\acad.exe",
            "publisher": "Autodesk, Inc.",
            "product_name": "AutoCAD 2024 - Student Version",
        },
        {"product": "AutoCAD", "edition": "Student", "license_model": "free"},
        id="student edition of a paid product is free",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Minitab\Minitab 21\Mtb.exe",
            "publisher": "Minitab, LLC",
            "product_name": "Minitab Statistical Software Trial",
        },
        {"product": "Minitab Statistical Software", "edition": "Trial", "license_model": "free"},
        id="trial is never a paid seat",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Visual Studio\2022\Community\Common7\IDE\devenv.exe",
            "publisher": "Microsoft Corporation",
        },
        {"product": "Microsoft Visual Studio", "edition": "Community", "license_model": "free"},
        id="visual studio community from the install folder",
    ),
]

EDITIONS = [
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Tableau\Tableau 2023.3\bin\tableau.exe",
            "publisher": "Tableau Software LLC",
            "product_name": "Tableau Desktop Professional Edition",
        },
        {"product": "Tableau Desktop", "edition": "Professional", "license_model": "subscription_seat"},
        id="edition in the version resource of a product with no edition list",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Office\Office16\WINPROJ.EXE",
            "publisher": "Microsoft Corporation",
            "product_name": "Microsoft Project Standard 2016",
        },
        {"product": "Microsoft Project", "edition": "Standard"},
        id="volume editions of office products",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Rhino 8\System\Rhino.exe",
            "publisher": "Robert McNeel & Associates",
            "product_name": "Rhinoceros 8 Education",
        },
        {"product": "Rhino", "edition": "Education", "license_model": "per_device"},
        id="a product's own edition list overrides the vocabulary's license",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\IBM\SPSS Statistics\stats.exe",
            "publisher": "IBM Corporation",
            "product_name": "IBM SPSS Statistics Premium",
        },
        {"product": "IBM SPSS Statistics", "edition": "Premium", "license_model": "named_user"},
        id="a listed edition without a license keeps the product's",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Microsoft Office\Office14\WINWORD.EXE",
            "publisher": "Microsoft Corporation",
            "product_name": "Microsoft Office Home and Student 2010",
        },
        {"product": "Microsoft Word", "edition": "Home and Student"},
        id="a phrase edition wins over its single words",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Intuit\TurboTax\Deluxe 2023\32bit\TurboTax.exe",
            "publisher": "Intuit Inc.",
            "product_name": "TurboTax",
        },
        {"product": "TurboTax", "edition": "Deluxe"},
        id="a product's own edition named only in the install folder",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/IntelliJ IDEA CE.app/Contents/MacOS/idea",
            "bundle_id": "com.jetbrains.intellij.ce",
        },
        {"product": "IntelliJ IDEA", "edition": "Community"},
        id="community edition from the macos bundle",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Google\Google Earth Pro\client\googleearth.exe", "publisher": "Google LLC"},
        {"product": "Google Earth Pro", "edition": None},
        id="a word of the product's own name is not an edition",
    ),
    pytest.param(
        {"exe_path": "/Library/Java/JavaVirtualMachines/zulu-17.jdk/Contents/Home/bin/java"},
        {"product": "Azul Zulu", "edition": None},
        id="folders inside a macos bundle are not edition names",
    ),
    pytest.param(
        {"exe_path": "/home/home/apps/notepadqq", "product_name": "Notepad++"},
        {"edition": None},
        id="the home folder is not the home edition",
    ),
]

EVIDENCE = [
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Northwind\Ledger\ledger.exe",
            "publisher": "Northwind Traders, Inc.",
            "product_name": "Northwind Ledger 12 Professional (x64)",
        },
        {
            "product": "Northwind Ledger",
            "vendor": "Northwind Traders",
            "edition": "Professional",
            "category": "application",
            "rule": "evidence",
            "catalogued": False,
            "product_id": None,
        },
        id="uncatalogued but signed and named: product, edition and vendor from the evidence",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Fabrikam\Planner\fp.exe",
            "company": "Fabrikam GmbH & Co. KG",
            "product_name": "Planner",
        },
        {"product": "Planner", "vendor": "Fabrikam", "category": "application", "rule": "evidence"},
        id="the version resource's company names the vendor when unsigned",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/Contoso Notes.app/Contents/MacOS/Contoso Notes",
            "publisher": "Developer ID Application: Contoso Ltd (AB12CD34EF)",
        },
        {"product": "Contoso Notes", "vendor": "Contoso", "category": "application", "catalogued": False},
        id="macos bundle name names an uncatalogued app",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Whiteboard\Whiteboard.exe",
            "publisher": "Microsoft Corporation",
            "product_name": "Microsoft Whiteboard",
        },
        {"product": "Microsoft Whiteboard", "vendor": "Microsoft", "rule": "evidence"},
        id="a known signer names the catalog vendor",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\x\tool.exe", "publisher": "Contoso Ltd", "product_name": "Contoso Tool"},
        {"category": "unknown", "rule": "unknown", "catalogued": False},
        id="not in a download folder",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Renamed\launcher2.exe",
            "publisher": "Microsoft Corporation",
            "product_name": "Slack",
        },
        {"category": "unknown", "product": None},
        id="a catalog name refused for another vendor's signature is not reused",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Widgets\widget.exe", "product_name": "Widget Maker"},
        {"category": "unknown"},
        id="a product name without any publisher is not enough",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Contoso\app.exe",
            "publisher": "Contoso Ltd",
            "product_name": "Microsoft® Windows® Operating System",
        },
        {"category": "unknown"},
        id="a generic product name names nothing",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Fabrikam\Sync\FabrikamUpdater.exe",
            "publisher": "Fabrikam GmbH",
            "product_name": "Fabrikam Sync",
        },
        {"category": "background", "rule": "helper_heuristic"},
        id="an uncatalogued updater is still background",
    ),
]

ALWAYS_ON = [
    pytest.param(
        {
            "exe_path": r"C:\Users\ana\AppData\Local\Microsoft\OneDrive\OneDrive.exe",
            "publisher": "Microsoft Corporation",
            "product_name": "Microsoft OneDrive",
        },
        {"product": "Microsoft OneDrive", "category": "background", "serves": "Microsoft OneDrive"},
        id="onedrive sync client on windows",
    ),
    pytest.param(
        {"exe_path": "/Applications/Dropbox.app/Contents/MacOS/Dropbox"},
        {"product": "Dropbox", "category": "background"},
        id="dropbox on macos",
    ),
    pytest.param(
        {"exe_path": "/usr/bin/dropbox"}, {"product": "Dropbox", "category": "background"}, id="dropbox on linux"
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Palo Alto Networks\GlobalProtect\PanGPA.exe",
            "publisher": "Palo Alto Networks",
        },
        {"product": "GlobalProtect", "category": "background"},
        id="globalprotect vpn client",
    ),
    pytest.param(
        {"exe_path": "/opt/cisco/anyconnect/bin/vpnui"},
        {"product": "Cisco Secure Client", "category": "background"},
        id="anyconnect on linux",
    ),
    pytest.param(
        {"exe_path": "/opt/sentinelone/bin/sentinelone-agent"},
        {"product": "SentinelOne agent", "category": "background", "rule": "background"},
        id="sentinelone on linux",
    ),
    pytest.param(
        {"exe_path": "/opt/osquery/bin/osqueryd"},
        {"product": "osquery", "category": "background"},
        id="osqueryd itself",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\UiPath\Studio\UiPath.Executor.exe", "publisher": "UiPath, Inc."},
        {"product": "UiPath Robot", "category": "background"},
        id="an unattended robot runs whether anyone works or not",
    ),
]


@pytest.mark.parametrize(("identity", "expected"), FREE_EDITIONS + EDITIONS + EVIDENCE + ALWAYS_ON)
def test_evidence_rules(matcher, identity, expected):
    _check(matcher, identity, expected)


def test_a_sync_client_never_counts_as_use(matcher):
    ref = ExecutableRef(
        r"C:\Users\ana\AppData\Local\Microsoft\OneDrive\OneDrive.exe", "OneDrive.exe", "Microsoft Corporation"
    )
    event = UsageEvent("e1", UsageSource.AGENT, "a", datetime(2026, 11, 27, tzinfo=UTC), "u", UsageKind.SAMPLE, ref)
    assert name_product(event, matcher) is None


def test_an_evidence_named_application_counts_under_its_name(matcher):
    ref = ExecutableRef(r"C:\Program Files\ZWSOFT\ZWCAD 2024\ZWCAD9.exe", "ZWCAD9.exe", ZWSOFT, "ZWCAD 2024")
    event = UsageEvent("e1", UsageSource.AGENT, "a", datetime(2026, 11, 27, tzinfo=UTC), "u", UsageKind.SAMPLE, ref)
    named = name_product(event, matcher)
    assert named is not None
    assert (named.product, named.category) == ("ZWCAD", "application")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("ZWCAD® 2024 Professional (x64)", "ZWCAD", id="marks, year, edition and architecture"),
        pytest.param("EViews 13 Enterprise Edition", "EViews", id="edition word and 'Edition'"),
        pytest.param("Contoso Designer", "Contoso Designer", id="a word that often ends a name stays"),
        pytest.param("Pro", "Pro", id="never strips everything"),
        pytest.param("Blue Prism", "Blue Prism", id="nothing to strip"),
    ],
)
def test_clean_product_name(catalog, raw, expected):
    assert clean_product_name(build_edition_index(catalog), raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(ZWSOFT, "ZWSOFT", id="legal form and a parenthesised note"),
        pytest.param("S&P Global Inc.", "S&P Global", id="inc"),
        pytest.param("Fabrikam GmbH & Co. KG", "Fabrikam", id="gmbh & co kg"),
        pytest.param("JetBrains s.r.o.", "JetBrains", id="s.r.o."),
        pytest.param("Acme, Inc", "Acme", id="comma inc"),
        pytest.param("Ltd", "Ltd", id="never strips everything"),
    ],
)
def test_vendor_display(catalog, raw, expected):
    legal = frozenset(catalog.heuristics.legal_suffixes)
    assert vendor_display(raw, legal) == expected


def test_osquery_column_names_are_accepted(matcher):
    line = b'{"path": "C:/Program Files/Acme/acme.exe", "signer": "Acme Corp", "description": "Acme Studio"}'
    out = list(fingerprint_lines(matcher, [line]))
    assert b'"product":"Acme Studio"' in out[0]
    assert b'"catalogued":false' in out[0]


text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    company=st.none() | text, description=st.none() | text, bundle_id=st.none() | text, product_name=st.none() | text
)
def test_arbitrary_evidence_never_raises(matcher, company, description, bundle_id, product_name):
    identity = ExecutableIdentity(
        exe_path=r"C:\Program Files\Acme\acme.exe",
        company=company,
        file_description=description,
        bundle_id=bundle_id,
        product_name=product_name,
    )
    result = fingerprint(matcher, identity, explain=True)
    assert Fingerprint.model_validate(result.model_dump()) == result
