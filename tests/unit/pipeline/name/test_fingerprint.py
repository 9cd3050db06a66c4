from datetime import date
from typing import get_args

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalog import ExecutableIdentity, Fingerprint, LicenseModel
from streams.pipeline.name.fingerprint import (
    CatalogError,
    build_matcher,
    fingerprint,
    fingerprint_lines,
    load_catalog,
)

MS = "Microsoft Corporation"
MS_MAC = "Developer ID Application: Microsoft Corporation (UBF8T346G9)"
ADOBE = "Adobe Inc."


def app(product, vendor, **more):
    return {"product": product, "vendor": vendor, "category": "application", **more}


def background(product, vendor, **more):
    return {"product": product, "vendor": vendor, "category": "background", **more}


EXECUTABLES = [
    # Microsoft Office: one product per app whatever the platform or release.
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Microsoft Office\Office14\EXCEL.EXE",
            "publisher": MS,
            "version": "14.0.7268.5000",
        },
        app(
            "Microsoft Excel",
            "Microsoft",
            version_group="2010",
            suite="Microsoft Office 2010",
            eol=True,
            license_model="per_device",
        ),
        id="excel 2010 on windows",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/Microsoft Excel.app/Contents/MacOS/Microsoft Excel",
            "publisher": MS_MAC,
            "version": "16.80",
        },
        app("Microsoft Excel", "Microsoft", version_group="2016+", suite="Microsoft 365 Apps", eol=False),
        id="excel on a mac",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
            "publisher": MS,
            "version": "16.0.17231.20194",
        },
        app("Microsoft Excel", "Microsoft", suite="Microsoft 365 Apps", license_model="subscription_seat", eol=False),
        id="excel from microsoft 365 click-to-run",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Office\Office16\EXCEL.EXE",
            "publisher": MS,
            "version": "16.0.4266.1001",
        },
        app(
            "Microsoft Excel", "Microsoft", edition="Office 2016 (volume MSI)", suite="Microsoft Office 2016", eol=True
        ),
        id="excel 2016 volume msi is past end of support",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\Office15\EXCEL.EXE"},
        app("Microsoft Excel", "Microsoft", version_group="2013", eol=True),
        id="excel 2013 from the install folder with no version or publisher",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", "publisher": MS},
        app("Microsoft Word", "Microsoft", suite="Microsoft 365 Apps"),
        id="word",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\POWERPNT.EXE", "publisher": MS},
        app("Microsoft PowerPoint", "Microsoft"),
        id="powerpoint",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", "publisher": MS},
        app("Microsoft Outlook", "Microsoft", edition=None),
        id="classic outlook",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\WindowsApps\Microsoft.OutlookForWindows_1.2024.1_x64__8wekyb3d8bbwe\olk.exe",
            "publisher": MS,
        },
        app("Microsoft Outlook", "Microsoft", edition="new Outlook for Windows"),
        id="new outlook for windows",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\ONENOTE.EXE", "publisher": MS},
        app("Microsoft OneNote", "Microsoft"),
        id="onenote",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\MSACCESS.EXE", "publisher": MS},
        app("Microsoft Access", "Microsoft"),
        id="access",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\MSPUB.EXE", "publisher": MS},
        app("Microsoft Publisher", "Microsoft"),
        id="publisher",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Office\root\Office16\VISIO.EXE",
            "publisher": MS,
            "version": "16.0.1",
        },
        app("Microsoft Visio", "Microsoft", suite=None),
        id="visio is sold on its own",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\WINPROJ.EXE", "publisher": MS},
        app("Microsoft Project", "Microsoft"),
        id="project",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Local\Microsoft\WindowsApps\ms-teams.exe", "publisher": MS},
        app("Microsoft Teams", "Microsoft", edition="new Teams", suite="Microsoft 365"),
        id="new teams",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Local\Microsoft\Teams\current\Teams.exe", "publisher": MS},
        app("Microsoft Teams", "Microsoft", edition="classic", eol=True),
        id="classic teams is retired",
    ),
    pytest.param(
        {"exe_path": "/Applications/Microsoft Teams.app/Contents/MacOS/MSTeams", "publisher": MS_MAC},
        app("Microsoft Teams", "Microsoft", edition="new Teams"),
        id="teams on a mac",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Microsoft\Edge\Application\msedge.exe", "publisher": MS},
        app("Microsoft Edge", "Microsoft", license_model="free"),
        id="edge is free",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Internet Explorer\iexplore.exe", "publisher": MS},
        app("Internet Explorer", "Microsoft", eol=True),
        id="internet explorer is retired",
    ),
    # Visual Studio editions and releases from the install path.
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Visual Studio\2022\Enterprise\Common7\IDE\devenv.exe",
            "publisher": MS,
            "version": "17.8.34330.188",
        },
        app("Microsoft Visual Studio", "Microsoft", edition="Enterprise", version_group="2022", eol=False),
        id="visual studio 2022 enterprise",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Microsoft Visual Studio\2019\Professional\Common7\IDE\devenv.exe",
            "publisher": MS,
        },
        app("Microsoft Visual Studio", "Microsoft", edition="Professional", version_group="2019"),
        id="visual studio 2019 professional",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Microsoft Visual Studio\2022\Community\Common7\IDE\devenv.exe",
            "publisher": MS,
        },
        app("Microsoft Visual Studio", "Microsoft", edition="Community", license_model="free"),
        id="visual studio community is free",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files (x86)\Microsoft Visual Studio 14.0\Common7\IDE\devenv.exe", "publisher": MS},
        app("Microsoft Visual Studio", "Microsoft", version_group="2015", eol=True),
        id="visual studio 2015 from its versioned folder",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Local\Programs\Microsoft VS Code\Code.exe", "publisher": MS},
        app("Visual Studio Code", "Microsoft", license_model="free"),
        id="vs code user install",
    ),
    pytest.param(
        {"exe_path": "/usr/share/code/code"},
        app("Visual Studio Code", "Microsoft"),
        id="vs code on linux has no publisher",
    ),
    pytest.param(
        {"exe_path": "/Applications/Visual Studio Code.app/Contents/MacOS/Electron", "publisher": MS_MAC},
        app("Visual Studio Code", "Microsoft", rule="bundle_name"),
        id="vs code on a mac runs an executable called Electron",
    ),
    # Adobe: Creative Cloud apps by file and by year-named bundle.
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Adobe\Adobe Photoshop 2024\Photoshop.exe",
            "publisher": ADOBE,
            "version": "25.1.0.120",
        },
        app("Adobe Photoshop", "Adobe", suite="Adobe Creative Cloud", version_group="2024"),
        id="photoshop 2024 on windows",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/Adobe Photoshop 2024/Adobe Photoshop 2024.app"
            "/Contents/MacOS/Adobe Photoshop 2024",
            "publisher": "Developer ID Application: Adobe Inc. (JQ525L2MZD)",
        },
        app("Adobe Photoshop", "Adobe", suite="Adobe Creative Cloud", version_group="2024"),
        id="adobe photoshop 2024 app bundle",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Adobe\Adobe Illustrator 2024\Support Files\Contents\Windows\Illustrator.exe",
            "publisher": ADOBE,
        },
        app("Adobe Illustrator", "Adobe", suite="Adobe Creative Cloud"),
        id="illustrator",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Adobe\Adobe After Effects 2024\Support Files\AfterFX.exe",
            "publisher": "Adobe Systems Incorporated",
        },
        app("Adobe After Effects", "Adobe"),
        id="after effects signed with the old company name",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files (x86)\Adobe\Acrobat Reader DC\Reader\AcroRd32.exe", "publisher": ADOBE},
        app("Adobe Acrobat Reader", "Adobe", license_model="free"),
        id="acrobat reader",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
            "publisher": ADOBE,
            "product_name": "Adobe Acrobat Pro DC",
        },
        app("Adobe Acrobat", "Adobe", suite="Adobe Document Cloud", edition="Pro", rule="product_name"),
        id="acrobat pro",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Adobe\Reader 11.0\Reader\AcroRd32.exe",
            "publisher": ADOBE,
            "version": "11.0.23.22",
        },
        app("Adobe Acrobat Reader", "Adobe", version_group="XI", eol=True),
        id="reader xi is past end of support",
    ),
    # Engineering and analytics.
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Autodesk\AutoCAD 2024\acad.exe",
            "publisher": "Autodesk, Inc.",
            "version": "24.3.61.0",
        },
        app("AutoCAD", "Autodesk", version_group="2024", license_model="named_user"),
        id="autocad 2024",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Autodesk\AutoCAD Civil 3D 2018\acad.exe", "publisher": "Autodesk, Inc."},
        app("Autodesk Civil 3D", "Autodesk", version_group="2018"),
        id="civil 3d shares acad.exe and is told apart by path",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Autodesk\Revit 2024\Revit.exe", "publisher": "Autodesk, Inc."},
        app("Autodesk Revit", "Autodesk", version_group="2024", suite="Autodesk AEC Collection"),
        id="revit",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\SOLIDWORKS Corp\SOLIDWORKS\SLDWORKS.exe",
            "publisher": "Dassault Systemes SolidWorks Corp",
            "version": "32.1.0.76",
        },
        app("SOLIDWORKS", "Dassault Systèmes", version_group="2024"),
        id="solidworks 2024",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\MATLAB\R2023b\bin\matlab.exe", "publisher": "The MathWorks, Inc."},
        app("MATLAB", "MathWorks", version_group="R2023b"),
        id="matlab on windows",
    ),
    pytest.param(
        {"exe_path": "/usr/local/MATLAB/R2024a/bin/glnxa64/MATLAB"},
        app("MATLAB", "MathWorks", version_group="R2024a"),
        id="matlab on linux",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Tableau\Tableau 2023.3\bin\tableau.exe", "publisher": "Tableau Software LLC"},
        app("Tableau Desktop", "Tableau Software", version_group="2023.3"),
        id="tableau desktop",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\IBM\SPSS Statistics\stats.exe", "publisher": "IBM Corporation"},
        app("IBM SPSS Statistics", "IBM"),
        id="spss statistics",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\SASHome\SASFoundation\9.4\sas.exe", "publisher": "SAS Institute Inc."},
        app("SAS 9", "SAS Institute", version_group="9.4"),
        id="sas 9.4",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Stata18\StataMP-64.exe", "publisher": "StataCorp LLC"},
        app("Stata", "StataCorp", edition="MP"),
        id="stata mp edition from the file name",
    ),
    # JetBrains editions.
    pytest.param(
        {
            "exe_path": r"C:\Program Files\JetBrains\IntelliJ IDEA 2024.1\bin\idea64.exe",
            "publisher": "JetBrains s.r.o.",
        },
        app(
            "IntelliJ IDEA", "JetBrains", edition="Ultimate", version_group="2024.1", license_model="subscription_seat"
        ),
        id="intellij idea ultimate",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\JetBrains\IntelliJ IDEA Community Edition 2023.3.2\bin\idea64.exe",
            "publisher": "JetBrains s.r.o.",
        },
        app("IntelliJ IDEA", "JetBrains", edition="Community", license_model="open_source"),
        id="intellij idea community",
    ),
    pytest.param(
        {"exe_path": "/Applications/PyCharm CE.app/Contents/MacOS/pycharm"},
        app("PyCharm", "JetBrains", edition="Community"),
        id="pycharm community on a mac",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Users\ana\AppData\Local\JetBrains\Toolbox\apps\PyCharm-P"
            r"\ch-0\241.14494.241\bin\pycharm64.exe",
            "publisher": "JetBrains s.r.o.",
        },
        app("PyCharm", "JetBrains", edition="Professional"),
        id="pycharm professional from toolbox",
    ),
    # Collaboration, browsers, runtimes.
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Roaming\Zoom\bin\Zoom.exe", "publisher": "Zoom Video Communications, Inc."},
        app("Zoom Workplace", "Zoom Video Communications"),
        id="zoom on windows",
    ),
    pytest.param(
        {"exe_path": "/Applications/zoom.us.app/Contents/MacOS/zoom.us"},
        app("Zoom Workplace", "Zoom Video Communications"),
        id="zoom on a mac",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Users\ana\AppData\Local\slack\app-4.36.140\slack.exe",
            "publisher": "Slack Technologies, LLC",
        },
        app("Slack", "Slack Technologies"),
        id="slack",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Google\Chrome\Application\chrome.exe", "publisher": "Google LLC"},
        app("Google Chrome", "Google", license_model="free"),
        id="chrome is free",
    ),
    pytest.param(
        {"exe_path": "/usr/lib/firefox/firefox"},
        app("Mozilla Firefox", "Mozilla"),
        id="firefox on linux",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\Desktop\Tor Browser\Browser\firefox.exe", "publisher": "The Tor Project, Inc."},
        app("Tor Browser", "The Tor Project"),
        id="tor browser ships a firefox.exe",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Java\jdk-17\bin\java.exe",
            "publisher": "Oracle America, Inc.",
            "version": "17.0.9",
        },
        app("Oracle Java SE", "Oracle", license_model="per_employee", version_group="17"),
        id="oracle java",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Eclipse Adoptium\jdk-21.0.1.12-hotspot\bin\java.exe",
            "publisher": "Eclipse.org Foundation, Inc.",
        },
        app("Eclipse Temurin", "Eclipse Foundation", license_model="open_source"),
        id="temurin java",
    ),
    pytest.param(
        {"exe_path": "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"},
        app("OpenJDK", "OpenJDK"),
        id="distribution openjdk without a publisher",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\anaconda3\python.exe", "version": "3.11.5"},
        app("Anaconda Distribution", "Anaconda"),
        id="python inside anaconda",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Python38\python.exe",
            "publisher": "Python Software Foundation",
            "version": "3.8.10",
        },
        app("Python", "Python Software Foundation", version_group="3.8", eol=True),
        id="python 3.8 is past end of life",
    ),
    # macOS and Linux applications.
    pytest.param(
        {"exe_path": "/Applications/Safari.app/Contents/MacOS/Safari", "publisher": "Software Signing"},
        app("Safari", "Apple"),
        id="safari",
    ),
    pytest.param(
        {"exe_path": "/System/Applications/Mail.app/Contents/MacOS/Mail"},
        app("Apple Mail", "Apple"),
        id="apple mail by its applications path",
    ),
    pytest.param(
        {"exe_path": "/usr/libexec/gnome-terminal-server"},
        app("GNOME Terminal", "The GNOME Project"),
        id="gnome terminal",
    ),
    pytest.param(
        {"exe_path": "/opt/zoom/zoom"},
        app("Zoom Workplace", "Zoom Video Communications"),
        id="zoom on linux",
    ),
    # Other editions.
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\TeamViewerQS_x64.exe", "publisher": "TeamViewer Germany GmbH"},
        app("TeamViewer", "TeamViewer", edition="QuickSupport", license_model="free"),
        id="teamviewer quicksupport",
    ),
    pytest.param(
        {"exe_path": "/Applications/DaVinci Resolve Studio.app/Contents/MacOS/Resolve"},
        app("DaVinci Resolve", "Blackmagic Design", edition="Studio", license_model="per_device"),
        id="davinci resolve studio",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\BurpSuiteCommunity\BurpSuiteCommunity.exe", "publisher": "PortSwigger Ltd"},
        app("Burp Suite", "PortSwigger", edition="Community", license_model="free"),
        id="burp suite community",
    ),
    # Background and helper processes are never use.
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Common Files\microsoft shared\ClickToRun\OfficeClickToRun.exe",
            "publisher": MS,
        },
        background("Microsoft Office Click-to-Run", "Microsoft"),
        id="office click-to-run",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe", "publisher": MS},
        background("Microsoft Edge Update", "Microsoft", serves="Microsoft Edge"),
        id="edge update",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files (x86)\Google\Update\GoogleUpdate.exe", "publisher": "Google LLC"},
        background("Google Update", "Google"),
        id="google update",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files (x86)\Common Files\Adobe\ARM\1.0\AdobeARM.exe", "publisher": ADOBE},
        background("Adobe Acrobat Update Service", "Adobe"),
        id="adobe updater",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application\120.0.2210.91\msedgewebview2.exe",
            "publisher": MS,
        },
        background("Microsoft Edge WebView2 Runtime", "Microsoft"),
        id="webview2 host",
    ),
    pytest.param(
        {
            "exe_path": "/Library/Application Support/Microsoft/MAU2.0/Microsoft AutoUpdate.app"
            "/Contents/MacOS/Microsoft AutoUpdate"
        },
        background("Microsoft AutoUpdate", "Microsoft"),
        id="microsoft autoupdate on a mac",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\JetBrains\IntelliJ IDEA 2024.1\bin\fsnotifier.exe",
            "publisher": "JetBrains s.r.o.",
        },
        background("JetBrains file watcher (fsnotifier)", "JetBrains"),
        id="jetbrains fsnotifier",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Local\slack\Update.exe", "publisher": "Slack Technologies, LLC"},
        background("Squirrel updater", "Slack Technologies"),
        id="squirrel update.exe",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/Google Chrome.app/Contents/Frameworks/Google Chrome Framework.framework"
            "/Versions/120.0.6099.109/Helpers/Google Chrome Helper (Renderer).app"
            "/Contents/MacOS/Google Chrome Helper (Renderer)"
        },
        background("Google Chrome", "Google", rule="nested_helper"),
        id="chrome renderer helper on a mac",
    ),
    pytest.param(
        {
            "exe_path": "/Applications/Visual Studio Code.app/Contents/Frameworks/Code Helper (Plugin).app"
            "/Contents/MacOS/Code Helper (Plugin)"
        },
        background("Visual Studio Code", "Microsoft", rule="nested_helper"),
        id="vs code plugin helper on a mac",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\Google\Chrome\Application\120.0.6099.130\notification_helper.exe",
            "publisher": "Google LLC",
        },
        background("Google Chrome helper", "Google"),
        id="chrome notification helper",
    ),
    pytest.param(
        {"exe_path": r"C:\Windows\System32\svchost.exe", "publisher": "Microsoft Windows"},
        background("Windows shell and system processes", "Microsoft"),
        id="svchost",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Contoso\ContosoUpdater.exe", "publisher": "Contoso Ltd"},
        {"category": "background", "rule": "helper_heuristic", "shadow_it": False},
        id="an unknown vendor's updater is background by its name",
    ),
    pytest.param(
        {"exe_path": r"C:\Windows\System32\brandnewthing.exe", "publisher": "Microsoft Windows"},
        {"category": "background", "rule": "os_component", "vendor": "Microsoft"},
        id="unknown file in the windows folder is an os component",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Zoom\bin\CptHost.exe", "publisher": "Zoom Video Communications, Inc."},
        background("Zoom helper", "Zoom Video Communications", serves="Zoom Workplace"),
        id="zoom screen-share host",
    ),
    # Unknown software and shadow IT.
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\coolTool.exe"},
        {"category": "unknown", "product": None, "shadow_it": True},
        id="unknown in downloads is shadow it",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\megagrab.exe", "publisher": "Megagrab Software Ltd"},
        {"category": "unknown", "shadow_it": True, "vendor": "Megagrab Software Ltd"},
        id="signed unknown in downloads is still shadow it",
    ),
    pytest.param(
        {"exe_path": r"E:\PortableApps\SomeTool\SomeTool.exe"},
        {"category": "unknown", "shadow_it": True},
        id="portable app on a usb drive",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Contoso\Contoso Designer\cdesign.exe", "publisher": "Contoso Ltd"},
        {"category": "unknown", "shadow_it": False},
        id="signed unknown in program files is not shadow it",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\EXCEL.EXE", "publisher": "Evil Corp"},
        {"category": "unknown", "shadow_it": True},
        id="excel.exe signed by someone else is not excel",
    ),
    pytest.param(
        {"exe_path": r"C:\Tools\EXCEL.EXE", "publisher": "Google LLC"},
        {"category": "unknown"},
        id="a known vendor's signature vetoes another vendor's file name",
    ),
    # Missing publisher fallbacks.
    pytest.param(
        {"exe_path": r"C:\Users\ana\Downloads\putty.exe"},
        app("PuTTY", "Simon Tatham", shadow_it=False),
        id="unsigned putty is still putty",
    ),
    pytest.param(
        {"exe_path": r"C:\Tools\Photo.exe"},
        {"category": "unknown"},
        id="generic file name without publisher or path hint stays unknown",
    ),
    pytest.param(
        {"exe_path": r"C:\Program Files\Affinity\Photo 2\Photo.exe"},
        app("Affinity Photo", "Serif"),
        id="generic file name with a path hint",
    ),
    pytest.param(
        {"exe_path": "/usr/bin/mail"},
        {"category": "unknown"},
        id="a linux mail binary is not apple mail",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Users\ana\AppData\Local\Renamed\launcher2.exe",
            "product_name": "Slack",
            "publisher": "Slack Technologies, LLC",
        },
        app("Slack", "Slack Technologies", rule="product_name"),
        id="product name with a matching publisher beats an unknown file name",
    ),
    pytest.param(
        {"exe_path": r"C:\Users\ana\AppData\Local\Renamed\launcher2.exe", "product_name": "Slack"},
        {"category": "unknown"},
        id="product name alone without a publisher is not trusted",
    ),
    pytest.param(
        {
            "exe_path": r"C:\Program Files\WindowsApps"
            r"\MicrosoftTeams_23320.3021.2567.4799_x64__8wekyb3d8bbwe\msteams.exe"
        },
        app("Microsoft Teams", "Microsoft", rule="override"),
        id="override from overrides.yaml",
    ),
]


@pytest.mark.parametrize(("identity", "expected"), EXECUTABLES)
def test_executable_is_fingerprinted(matcher, identity, expected):
    result = fingerprint(matcher, ExecutableIdentity(**identity), explain=True)
    assert {k: getattr(result, k) for k in expected} == expected, result.explain


SAAS = [
    pytest.param(
        {"saas_app": "Salesforce"}, app("Salesforce", "Salesforce", rule="saas_name"), id="salesforce by okta name"
    ),
    pytest.param(
        {"saas_app": "Office 365 Exchange Online"},
        app("Exchange Online", "Microsoft", suite="Microsoft 365"),
        id="entra exchange online",
    ),
    pytest.param({"saas_app": "zoomus"}, app("Zoom", "Zoom Video Communications"), id="zoom by okta app name"),
    pytest.param(
        {"saas_app": "GitHub Enterprise Cloud - Organization"},
        app("GitHub", "GitHub"),
        id="github by entra gallery name",
    ),
    pytest.param(
        {"saas_app": "Google Cloud / G Suite Connector by Microsoft"},
        app("Google Workspace", "Google", suite="Google Workspace"),
        id="google workspace by entra gallery name",
    ),
    pytest.param(
        {"saas_app": "Microsoft Authentication Broker"}, {"category": "background"}, id="token broker is not use"
    ),
    pytest.param(
        {"url": "https://acme.lightning.force.com/lightning/page/home"},
        app("Salesforce", "Salesforce", rule="saas_url"),
        id="salesforce by url",
    ),
    pytest.param(
        {"url": "https://acme.atlassian.net/wiki/spaces/ENG"},
        app("Confluence", "Atlassian"),
        id="confluence by url path",
    ),
    pytest.param({"url": "https://acme.atlassian.net/browse/ENG-1"}, app("Jira", "Atlassian"), id="jira by url"),
    pytest.param(
        {"url": "https://contoso-my.sharepoint.com/personal/ana"},
        app("OneDrive for Business", "Microsoft"),
        id="onedrive",
    ),
    pytest.param(
        {"url": "https://contoso.sharepoint.com/sites/hr"}, app("SharePoint Online", "Microsoft"), id="sharepoint"
    ),
    pytest.param({"url": "https://www.figma.com/board/abc/Retro"}, app("FigJam", "Figma"), id="figjam by url path"),
    pytest.param(
        {"url": "docs.google.com/spreadsheets/d/1"}, app("Google Docs", "Google"), id="google docs without scheme"
    ),
    pytest.param({"url": "https://chatgpt.com/"}, app("ChatGPT", "OpenAI", license_model="freemium"), id="chatgpt"),
    pytest.param({"url": "https://app.box.com/folder/0"}, app("Box", "Box"), id="box"),
    pytest.param(
        {"url": "https://myworkday.com.evil.example/"},
        {"category": "unknown"},
        id="workday lookalike host is not workday",
    ),
    pytest.param({"url": "https://acme.myworkday.com/d/home.htmld"}, app("Workday", "Workday"), id="workday"),
    pytest.param(
        {"url": "https://totally-new-ai.example/"},
        {"category": "unknown", "shadow_it": True},
        id="unknown web app is shadow it",
    ),
    pytest.param(
        {"saas_app": "Contoso Expenses"},
        {"category": "unknown", "shadow_it": False},
        id="unknown idp app is sanctioned",
    ),
    pytest.param(
        {"saas_app": "Contoso", "url": "https://acme.docusign.net/x"},
        app("Docusign eSignature", "Docusign"),
        id="url after unknown name",
    ),
]


@pytest.mark.parametrize(("identity", "expected"), SAAS)
def test_saas_sign_in_is_fingerprinted(matcher, identity, expected):
    result = fingerprint(matcher, ExecutableIdentity(**identity), explain=True)
    assert result.platform == "saas"
    assert {k: getattr(result, k) for k in expected} == expected, result.explain


def test_catalog_is_broad_and_consistent(catalog):
    ids = [p.id for p in catalog.products] + [b.id for b in catalog.background] + [s.id for s in catalog.saas]
    assert len(catalog.products) >= 400
    assert len(catalog.background) >= 60
    assert len(catalog.saas) >= 100
    assert len(ids) == len(set(ids))
    vendors = {v.id for v in catalog.vendors}
    models = set(get_args(LicenseModel))
    for product in catalog.products:
        assert product.vendor in vendors, product.id
        assert product.license in models, product.id
    for platform in ("windows", "macos", "linux"):
        assert sum(platform in p.platforms for p in catalog.products) >= 150, platform
    eol_dates = [p.eol for p in catalog.products if p.eol]
    assert eol_dates and all(date(2000, 1, 1) < d < date(2040, 1, 1) for d in eol_dates)


def test_every_product_is_found_by_its_own_evidence(catalog, matcher):
    """Each product's first file name, signed by its vendor in one of its hinted folders, finds it."""
    vendors = {v.id: v.name for v in catalog.vendors}
    misses = []
    for product in catalog.products:
        if not product.exe:
            continue
        folder = product.hints[0].strip("/") if product.hints else "vendor/app"
        identity = ExecutableIdentity(
            exe_path=f"C:/Program Files/{folder}/{product.exe[0]}", publisher=vendors[product.vendor]
        )
        result = fingerprint(matcher, identity)
        if result.product_id != product.id and result.category != "background":
            misses.append((product.id, result.product_id))
    assert misses == []


def test_broken_catalog_fails_loudly_naming_the_file_and_entry(tmp_path):
    (tmp_path / "catalog.yaml").write_text("version: '1'\nvendors: [v.yaml]\nproducts: [p.yaml]\n")
    (tmp_path / "v.yaml").write_text("vendors: [{id: acme, name: Acme}]\n")
    (tmp_path / "p.yaml").write_text(
        "products:\n  - {id: widget, name: Widget, vendor: acme, license: sometimes, exe: [w.exe]}\n"
    )
    with pytest.raises(CatalogError, match=r"p\.yaml.*id=widget.*license"):
        load_catalog(tmp_path)


def test_dangling_vendor_reference_is_rejected(tmp_path):
    (tmp_path / "catalog.yaml").write_text("version: '1'\nvendors: [v.yaml]\nproducts: [p.yaml]\n")
    (tmp_path / "v.yaml").write_text("vendors: [{id: acme, name: Acme}]\n")
    (tmp_path / "p.yaml").write_text(
        "products:\n  - {id: widget, name: Widget, vendor: nobody, license: free, exe: [w.exe]}\n"
    )
    with pytest.raises(CatalogError, match="widget: unknown vendor nobody"):
        load_catalog(tmp_path)


def test_missing_catalog_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nowhere.yaml")


def test_repeated_identities_come_from_the_cache(matcher):
    excel = ExecutableIdentity(exe_path=r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE", publisher=MS)
    assert fingerprint(matcher, excel) is fingerprint(matcher, excel)


def test_the_same_install_in_another_profile_is_matched_once(matcher):
    ana = ExecutableIdentity(exe_path=r"C:\Users\ana\AppData\Local\slack\app-4.36.140\slack.exe")
    bob = ExecutableIdentity(exe_path=r"C:\Users\bob\AppData\Local\slack\app-4.36.140\slack.exe")
    assert fingerprint(matcher, ana) is fingerprint(matcher, bob)


def test_explain_lists_the_reasoning_only_when_asked(matcher):
    identity = ExecutableIdentity(exe_path=r"C:\Users\ana\Downloads\coolTool.exe")
    assert fingerprint(matcher, identity).explain == ()
    steps = fingerprint(matcher, identity, explain=True).explain
    assert any("no publisher" in s for s in steps)
    assert any("download" in s for s in steps)


def test_end_of_life_is_judged_on_the_given_day(catalog):
    identity = ExecutableIdentity(
        exe_path=r"C:\Program Files (x86)\Microsoft Visual Studio 14.0\Common7\IDE\devenv.exe"
    )
    assert fingerprint(build_matcher(catalog, as_of=date(2025, 1, 1)), identity).eol is False
    assert fingerprint(build_matcher(catalog, as_of=date(2025, 10, 14)), identity).eol is True


def test_json_lines_in_and_out(matcher):
    excel = {"exe_path": r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE", "publisher": MS}
    lines = [
        orjson.dumps(excel),
        b"",
        b"{not json",
        b'{"saas_app": "Slack", "host": "extra fields are ignored"}',
        b'{"exe_path": 42}',
    ]
    out = [orjson.loads(line) for line in fingerprint_lines(matcher, lines)]
    assert [o.get("product") for o in out] == ["Microsoft Excel", None, "Slack", None]
    assert out[1]["line"] == 3 and "error" in out[1]
    required = {
        "product",
        "vendor",
        "category",
        "suite",
        "edition",
        "version_group",
        "license_model",
        "eol",
        "shadow_it",
        "rule",
    }
    assert required <= out[0].keys() and "explain" not in out[0]
    assert out[3]["category"] == "unknown"
    [explained] = fingerprint_lines(matcher, lines[:1], explain=True)
    assert orjson.loads(explained)["explain"]


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
paths = st.one_of(
    text,
    st.builds(lambda a, b: f"C:\\{a}\\{b}.exe", text, text),
    st.builds(lambda a, b: f"/Applications/{a}.app/Contents/MacOS/{b}", text, text),
    st.builds(lambda a: f"/usr/bin/{a}", text),
)


@settings(max_examples=300, deadline=None)
@given(
    exe_path=paths,
    publisher=st.none() | text,
    product_name=st.none() | text,
    version=st.none() | text,
    sha256=st.none() | text,
    saas_app=st.none() | text,
    url=st.none() | text,
)
def test_arbitrary_input_never_raises(matcher, exe_path, publisher, product_name, version, sha256, saas_app, url):
    identity = ExecutableIdentity(
        exe_path=exe_path,
        publisher=publisher,
        product_name=product_name,
        version=version,
        sha256=sha256,
        saas_app=saas_app,
        url=url,
    )
    result = fingerprint(matcher, identity, explain=True)
    assert result.category in ("application", "background", "unknown")
    assert Fingerprint.model_validate(result.model_dump()) == result


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=5))
def test_arbitrary_lines_never_raise(matcher, lines):
    assert len(list(fingerprint_lines(matcher, lines))) <= len(lines)
