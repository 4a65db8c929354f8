"""The HTML banner rendered by headless Chromium: visible at the top of the message.

The PNGs are kept under artifacts/ (gitignored; CI keeps them as artifacts)."""

from __future__ import annotations

import email.policy
import shutil
import struct
import subprocess
import tempfile
import zlib
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from gateway.act.banner import Templates, insert_banner
from gateway.model import Decision, RuleHit, Verdict
from tests.conftest import ROOT, need_binary

ARTIFACTS = ROOT / "artifacts"
SAMPLE = ROOT / "tests" / "corpus" / "approach" / "029-pinnacle-talent-board-advisory-html.eml"
BACKGROUND = (0xFD, 0xEC, 0xEA)  # the shipped 'suspicious' banner colours
ACCENT = (0xB3, 0x26, 0x1E)


def read_png(data: bytes) -> list[list[tuple[int, int, int]]]:
    """RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[list[tuple[int, int, int]]] = []
    prev = bytearray(stride)
    for y in range(len(raw) // (stride + 1)):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, channels)])
        prev = line
    return rows


def render(html: str, name: str) -> list[list[tuple[int, int, int]]]:
    chromium = need_binary("chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="chromium"))
    try:
        page = work / "message.html"
        page.write_text(html, encoding="utf-8")
        png = ARTIFACTS / name
        png.unlink(missing_ok=True)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={work / 'profile'}", f"--screenshot={png}",
                        "--window-size=1000,700", page.as_uri()],
                       capture_output=True, timeout=90, check=False)
        assert png.is_file(), "chromium wrote no screenshot"
        return read_png(png.read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _html_part(raw: bytes) -> str:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def banner_rows(rows: list[list[tuple[int, int, int]]]) -> list[int]:
    """Rows (of the top 200) where at least half the pixels are the banner background."""
    return [y for y, row in enumerate(rows[:200]) if sum(px == BACKGROUND for px in row) > len(row) // 2]


def test_html_banner_is_visible_at_the_top() -> None:
    raw = SAMPLE.read_bytes()
    decision = Decision(Verdict.SUSPICIOUS, 7.5, (
        RuleHit("board-advisory-freemail", 4, "Paid 'advisory board' offer from a free-mail address"),
        RuleHit("off-channel", 3.5, "Asks to continue the conversation on WhatsApp")))
    banner = Templates.load().render(decision, "mailto:security@example.org")
    with_banner = render(_html_part(insert_banner(raw, banner)), "banner-suspicious.png")
    rows = banner_rows(with_banner)
    assert rows and rows[0] < 40, "banner background not at the top of the rendered message"
    assert len(rows) >= 60  # tall enough to hold headline, reasons and the report link
    band = with_banner[rows[0]:rows[-1]]
    assert any(ACCENT in row[:40] for row in band)  # the coloured left border
    assert any(sum(px[0] < 90 for px in row) > 5 for row in band)  # dark text inside the banner
    without = render(_html_part(raw), "banner-control.png")  # control: the original has no band
    assert banner_rows(without) == []


async def test_banner_in_utf16_and_whatwg_labelled_parts_is_what_chromium_shows_first() -> None:
    """attack20 F1: each part rendered with its declared charset (a data: URL, as a mail client's
    web view loads it): the banner's headline is the first text the browser shows, and the
    sender's text follows. Before, these parts were delivered without banner. (No UTF-32: the
    Encoding Standard has none; Chromium reads its BOM as UTF-16LE's, banner and text alike.)"""
    import base64

    from tests.support.cdp import Browser
    banner = Templates.load().render(Decision(Verdict.HIGH, 50.0), None)
    html = "<html><body><p>Dear Sarah,</p><p>Caf\u00e9 \u201cchat\u201d on WhatsApp?</p></body></html>\r\n"
    plain = "Dear Sarah,\r\nCaf\u00e9 \u201cchat\u201d on WhatsApp?\r\n"
    cases = [("text/html", "utf-16", "base64", base64.encodebytes(html.encode("utf-16"))),
             ("text/plain", "utf-16le", "base64", base64.encodebytes(plain.encode("utf-16-le"))),
             ("text/plain", "us-ascii", "base64", base64.encodebytes(plain.encode("utf-16"))),  # BOM sniffing
             ("text/html", "x-cp1252", "8bit", html.encode("cp1252")),
             ("text/plain", "x-unicode20utf8", "8bit", plain.encode("utf-8"))]
    b = await Browser().start()
    try:
        await b.send("Page.enable")
        for ctype, charset, cte, body in cases:
            raw = (f"From: a@ext.test\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}; charset={charset}\r\n"
                   f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body.replace(b"\n", b"\r\n")
            out = insert_banner(raw, banner)
            assert out != raw, charset
            part = BytesParser().parsebytes(out)
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            await b.goto(f"data:{ctype};charset={charset};base64,{base64.b64encode(data).decode()}")
            shown = await b.eval("document.body.innerText")
            assert shown.lstrip().startswith(("Warning: this message is very likely", "*** Warning:")), shown[:80]
            assert "Caf\u00e9 \u201cchat\u201d on WhatsApp?" in shown, shown
    finally:
        await b.close()


# What a reader sees of the banner: each piece (headline, intro, every reason, the report link)
# a readable box at the top, above the sender's first paragraph, not covered, not styled away.
_SHOWN_JS = r"""(() => {
  const it = document.createNodeIterator(document.body, NodeFilter.SHOW_COMMENT);
  let c; while ((c = it.nextNode()) && !c.data.includes('approach-gateway-banner')) {}
  if (!c) return ['no marker'];
  let t = c.nextSibling; while (t && t.nodeType !== 1) t = t.nextSibling;
  if (!t) return ['no banner element'];
  const td = t.querySelector('td'), bad = [];
  const sender = [...document.querySelectorAll('p')].find(p => !t.contains(p));
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const items = [...t.querySelectorAll('strong, li, a')].map(e => [e.tagName, e, e]);
  for (const n of td.childNodes) if (n.nodeType === 3 && n.data.trim()) {
    const r = document.createRange(); r.selectNodeContents(n); items.push(['intro', r, td]);
  }
  if (items.length < 5) bad.push('only ' + items.length + ' pieces');
  for (const [label, box, el] of items) {
    const r = [...box.getClientRects()].find(q => q.width > 0 && q.height > 0) || box.getBoundingClientRect();
    if (!(r.width > 20 && r.height >= 12)) { bad.push(label + ' size ' + r.width + 'x' + r.height); continue; }
    if (r.top < 0 || r.left < 0 || r.right > innerWidth + 1 || r.top > 600)
      bad.push(label + ' at ' + r.left + ',' + r.top);
    if (r.top >= sender.getBoundingClientRect().top) bad.push(label + ' below the sender text');
    const hit = document.elementFromPoint(r.left + Math.min(4, r.width / 2), r.top + r.height / 2);
    if (!hit || !t.contains(hit)) bad.push(label + ' covered');
    for (let x = el; x && x !== t.parentNode; x = x.parentElement) {
      const s = getComputedStyle(x);
      if (s.opacity !== '1' || s.visibility !== 'visible' || s.filter !== 'none' || s.clipPath !== 'none'
          || s.maskImage !== 'none' || s.contentVisibility !== 'visible' || s.zoom !== '1')
        bad.push(label + ' in ' + x.tagName + ' styled away');
    }
    const s = getComputedStyle(el), col = rgb(s.color), bg = rgb(getComputedStyle(td).backgroundColor);
    if (parseFloat(s.fontSize) < 12) bad.push(label + ' font ' + s.fontSize);
    if ((col.length > 3 && col[3] < 0.9) || s.webkitTextFillColor !== s.color) bad.push(label + ' colour');
    if (Math.abs(col[0] - bg[0]) + Math.abs(col[1] - bg[1]) + Math.abs(col[2] - bg[2]) < 200)
      bad.push(label + ' contrast');
    if (s.webkitTextStrokeWidth !== '0px' || s.webkitTextSecurity !== 'none' || s.textShadow !== 'none')
      bad.push(label + ' glyphs');
    if (s.direction !== 'ltr' || s.unicodeBidi === 'bidi-override' || s.writingMode !== 'horizontal-tb')
      bad.push(label + ' bidi');
    if (parseFloat(s.letterSpacing) < 0 || parseFloat(s.wordSpacing) < 0 || parseFloat(s.lineHeight) < 12)
      bad.push(label + ' spacing');
  }
  return [...new Set(bad)];
})()"""
_ANY = "table,tbody,tr,td,strong,br,ul,li,a"
HOSTILE_SHEETS = {
    "none": "",
    # attack24 1b: the sender's sheet aimed at the banner's markup
    "role": "table[role=presentation]{display:none!important}",
    "first-table": "body>table:first-child{display:none}",
    "bgcolor": "td[bgcolor]{display:none}",
    "has": "table:has(td[bgcolor]){display:none}",
    "tbody": "tbody{display:none!important}",
    "layer": "@layer a{table{display:none!important}}",
    "visibility": _ANY + "{visibility:hidden!important}",
    "visibility-inherited": "body{visibility:hidden!important} p{visibility:visible!important}",
    "opacity": _ANY + "{opacity:0!important;filter:opacity(0)!important}",
    "position": "table{position:absolute!important;left:-9999px!important;top:-9999px!important}",
    "transform": _ANY + "{transform:translateX(-9999px)!important}",
    "scale": _ANY + "{scale:0!important}",
    "height": _ANY + "{height:0!important;max-height:0!important;overflow:hidden!important;line-height:0!important}",
    "width": _ANY + "{width:0!important;max-width:0!important;overflow:hidden!important}",
    "font-size": _ANY + "{font-size:0!important}",
    "colour": _ANY + "{color:transparent!important}",
    "colour-inherited": "body{color:#f9d2d0!important} p{color:#000!important}",
    "background": _ANY + "{background-color:#1f1f1f!important}",
    "fill": _ANY + "{-webkit-text-fill-color:transparent!important}",
    "stroke-inherited": "body{-webkit-text-stroke:30px #f9d2d0!important} p{-webkit-text-stroke:0!important}",
    "clip": "table{position:absolute!important;clip:rect(0 0 0 0)!important}",
    "clip-path": _ANY + "{clip-path:inset(50%)!important}",
    "content-visibility": _ANY + "{content-visibility:hidden!important}",
    "margin": "table{margin-top:-9999px!important}",
    "indent": _ANY + "{text-indent:-9999px!important}",
    "zoom": _ANY + "{zoom:0.01!important}",
    "float": "table{float:left!important;width:1px!important}",
    "order": "body{display:flex!important;flex-direction:column!important} table{order:9!important}",
    "bidi": "td,strong,li,a{unicode-bidi:bidi-override!important;direction:rtl!important}",
    "spacing": _ANY + "{letter-spacing:-1em!important;word-spacing:-1em!important}",
}


async def test_the_senders_style_sheet_cannot_hide_the_html_banner() -> None:
    """attack24 1b: a `<style>` in the message that hides, moves, shrinks or recolours the banner's
    elements (by its role, bgcolor, position in the body, or every table element) and leaves the
    sender's text alone. Before, each of these (but the control) lost the banner in Chromium;
    the banner's inline declarations are now all `!important` after `all:revert` (`all:initial` on
    its table), which beats every rule of a sheet (CSS Cascade 4, element-attached styles)."""
    import base64

    from tests.support.cdp import Browser
    banner = Templates.load().render(Decision(Verdict.HIGH, 29.8, (
        RuleHit("off-channel", 3, "Asks to move to WhatsApp"), RuleHit("money", 3, "Offers money"))),
        "mailto:security@example.org")
    text = "<p>Dear Sarah,</p><p>Could we continue this on WhatsApp? Please keep this between us.</p>"
    b = await Browser().start()
    lost = {}
    try:
        await b.send("Page.enable")
        for name, sheet in HOSTILE_SHEETS.items():
            head = f"<head><style>{sheet}</style></head>" if sheet else ""
            raw = ("From: a@ext.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n<html>{head}<body>{text}</body></html>\r\n").encode()
            out = insert_banner(raw, banner)
            assert out != raw, name
            data = BytesParser().parsebytes(out).get_payload(decode=True)
            assert isinstance(data, bytes)
            await b.goto(f"data:text/html;charset=utf-8;base64,{base64.b64encode(data).decode()}")
            problems = await b.eval(_SHOWN_JS)
            if problems:
                lost[name] = problems[:3]
    finally:
        await b.close()
    assert lost == {}
