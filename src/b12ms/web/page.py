"""The page shell shared by the report and the form: one self-contained HTML document.

Everything is inline (CSS here, SVG in the charts): the page must work on a closed network,
be saved as one file and print well. Colours were chosen for a contrast of at least 4.5:1
for text against its own background; meaning is never carried by colour alone.
"""

from __future__ import annotations

import datetime as dt
import html

CSS = """
:root {
  --ink: #1b1f24; --muted: #4a5560; --line: #d5dae0; --page: #f4f6f8; --card: #fff;
  --navy: #1d3a5f; --link: #0b4f9c;
  --red: #a3211a; --red-bg: #fdecea; --amber: #7a4100; --amber-bg: #fff3dc;
  --green: #14532d; --green-bg: #e7f4ec; --grey-bg: #eef1f5; --violet: #4b2a85;
  --violet-bg: #f1ecfa;
}
* { box-sizing: border-box; }
html { font-size: 100%; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible,
textarea:focus-visible, summary:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid #f5b400; outline-offset: 2px; box-shadow: 0 0 0 5px var(--ink); }
.skip { position: absolute; left: -999px; top: 0; background: var(--card); padding: .5rem 1rem;
  z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
.topbar { background: var(--navy); color: #fff; }
.topbar .wrap { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1.5rem;
  padding-top: .6rem; padding-bottom: .6rem; }
.brand { font-weight: 700; font-size: 1.1rem; letter-spacing: .02em; }
.topbar .who { font-size: 1rem; }
.topbar .meta { font-size: .85rem; color: #dbe4ef; }
.topbar a { color: #fff; }
.topbar nav { margin-left: auto; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 1.25rem; }
main.wrap { padding-top: 1rem; padding-bottom: 2rem; }
.notice { background: var(--grey-bg); border: 1px solid var(--line); border-radius: 6px;
  padding: .5rem .9rem; font-size: .9rem; color: var(--ink); margin: 0 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; margin: 0 0 .6rem; color: var(--navy); }
h3 { font-size: 1.05rem; margin: 1.1rem 0 .4rem; }
section.card, .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.25rem; margin: 0 0 1rem; }
.grid { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); gap: 1rem;
  align-items: start; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
.verdict { border-left: 8px solid var(--muted); background: var(--grey-bg); border-radius: 6px;
  padding: .8rem 1rem; margin: 0 0 .8rem; }
.verdict .big { font-size: 1.9rem; font-weight: 800; line-height: 1.15; margin: 0; }
.verdict .band { margin: .35rem 0 0; font-size: 1.05rem; }
.v-deficiency_likely { border-color: var(--red); background: var(--red-bg); }
.v-deficiency_likely .big { color: var(--red); }
.v-deficiency_possible { border-color: #b25e00; background: var(--amber-bg); }
.v-deficiency_possible .big { color: var(--amber); }
.v-deficiency_unlikely { border-color: #1e7b45; background: var(--green-bg); }
.v-deficiency_unlikely .big { color: var(--green); }
.facts { margin: 0; padding: 0; list-style: none; }
.facts li { padding: .45rem 0; border-top: 1px solid var(--line); }
.facts li:first-child { border-top: 0; }
.k { display: block; font-size: .8rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); font-weight: 600; }
.v { font-size: 1.05rem; }
.num { font-variant-numeric: tabular-nums; font-weight: 700; }
.answer { font-weight: 800; }
.src { font-size: .8rem; color: var(--muted); white-space: normal; }
.src a { color: var(--muted); white-space: nowrap; }
.jump { margin: .6rem 0 0; font-size: .95rem; }
.tag { display: inline-block; font-size: .75rem; font-weight: 700; letter-spacing: .04em;
  text-transform: uppercase; border-radius: 4px; padding: .05rem .45rem; border: 1px solid;
  vertical-align: .1em; white-space: nowrap; }
.tag-contested { color: var(--amber); background: var(--amber-bg); border-style: dashed; }
.tag-research { color: var(--violet); background: var(--violet-bg); border-style: dotted; }
.tag-judgement { color: var(--muted); background: var(--grey-bg); }
.tag-raised, .tag-low, .tag-positive { color: var(--red); background: var(--red-bg); }
.tag-normal, .tag-negative { color: var(--green); background: var(--green-bg); }
.tag-band-low { color: var(--red); background: var(--red-bg); }
.tag-band-indeterminate { color: var(--amber); background: var(--amber-bg); }
.tag-band-normal { color: var(--green); background: var(--green-bg); }
.findings { list-style: none; margin: 0; padding: 0; }
.findings > li { border: 1px solid var(--line); border-left: 5px solid var(--line);
  border-radius: 6px; padding: .45rem .8rem; margin: 0 0 .4rem; }
.kind-red_flag > li { border-left-color: var(--red); }
.kind-caveat > li { border-left-color: #b25e00; }
.kind-ms_context > li { border-left-color: var(--navy); }
.findings > li.st-contested { border-left-style: dashed; }
.findings > li.st-research { border-left-style: dotted; border-left-color: var(--violet); }
.f-label { font-weight: 700; }
.f-summary { margin: .15rem 0; }
.evidence { margin: .1rem 0 0; font-size: .9rem; color: var(--muted); }
.evidence ul { margin: .1rem 0 0; padding-left: 1.2rem; }
.actions { list-style: none; margin: 0; padding: 0; }
.actions > li { display: grid; grid-template-columns: 7.2rem 1fr; gap: .8rem;
  border-top: 1px solid var(--line); padding: .7rem 0; }
.actions > li:first-child { border-top: 0; }
.urg { display: inline-block; width: 100%; text-align: center; font-weight: 800;
  font-size: .85rem; letter-spacing: .06em; border-radius: 4px; padding: .25rem .3rem;
  border: 2px solid; }
.urg-urgent { background: var(--red); color: #fff; border-color: var(--red); }
.urg-soon { background: var(--amber-bg); color: var(--amber); border-color: var(--amber); }
.urg-routine { background: #fff; color: var(--navy); border-color: #8ea3bd; border-style: dashed; }
.a-text { margin: 0; }
.actions > li.u-urgent { background: var(--red-bg); border-radius: 6px; padding: .7rem .6rem;
  border-top: 0; margin-bottom: .3rem; }
.callout { border: 2px solid var(--red); border-radius: 6px; padding: .5rem .8rem;
  margin: .6rem 0; }
.callout p { margin: 0 0 .3rem; }
.callout .urg { width: auto; padding: .15rem .6rem; }
.callout ul { margin: 0; padding-left: 1.1rem; font-weight: 600; }
.callout a { color: var(--ink); text-decoration-thickness: 1px; }
.a-why { margin: .2rem 0 0; font-size: .9rem; color: var(--muted); }
figure { margin: 0 0 .8rem; }
figcaption { font-size: .85rem; color: var(--muted); margin-top: .2rem; }
svg.chart { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
caption { text-align: left; font-weight: 700; padding: .2rem 0; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 700; color: var(--muted); font-size: .8rem; text-transform: uppercase;
  letter-spacing: .04em; }
td.n { font-variant-numeric: tabular-nums; white-space: nowrap; }
details { margin: .4rem 0; }
summary { cursor: pointer; color: var(--link); }
.sources { list-style: none; padding: 0; margin: 0; font-size: .92rem; }
.sources li { padding: .35rem 0; border-top: 1px solid var(--line); }
.sid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem;
  font-weight: 700; }
.url { word-break: break-all; }
.legend { font-size: .9rem; margin: .3rem 0 .8rem; padding-left: 1.2rem; }
footer.disclaimer { border: 2px solid var(--navy); background: var(--card); border-radius: 8px;
  padding: .8rem 1rem; font-size: .95rem; }
.muted { color: var(--muted); }
/* form */
form .row { display: flex; flex-wrap: wrap; gap: .8rem 1.5rem; margin: 0 0 .6rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 1rem;
  padding: .6rem 1rem .8rem; }
legend { font-weight: 700; color: var(--navy); padding: 0 .3rem; }
label { display: inline-block; }
.field { display: flex; flex-direction: column; gap: .15rem; }
.field > label { font-weight: 600; }
.hint { font-size: .85rem; color: var(--muted); }
.checks { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr));
  gap: .15rem 1rem; }
.checks label { font-weight: 400; }
.group { font-weight: 700; margin: .5rem 0 .1rem; }
input[type=text], input[type=number], input[type=date], select, textarea {
  font: inherit; padding: .3rem .45rem; border: 1px solid #7b8794; border-radius: 4px;
  background: #fff; color: var(--ink); }
input[type=number] { width: 7.5rem; }
textarea { width: 100%; min-height: 3.2rem; }
input[type=checkbox] { width: 1.05rem; height: 1.05rem; vertical-align: -.15em; }
.labs td, .labs th { padding: .3rem .35rem; }
.labs tbody th { text-transform: none; letter-spacing: 0; font-size: .95rem; color: var(--ink);
  font-weight: 600; }
.labs input[type=number] { width: 6.5rem; }
.error { color: var(--red); font-weight: 700; font-size: .9rem; }
.invalid { border-color: var(--red) !important; border-width: 2px !important; }
.errors { border: 2px solid var(--red); background: var(--red-bg); border-radius: 6px;
  padding: .6rem 1rem; margin: 0 0 1rem; }
.errors h2 { color: var(--red); font-size: 1.1rem; }
button, .button { font: inherit; font-weight: 700; background: var(--navy); color: #fff;
  border: 2px solid var(--navy); border-radius: 6px; padding: .5rem 1.2rem; cursor: pointer; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
@media print {
  body { background: #fff; font-size: 10.5pt; }
  .topbar { background: #fff; color: #000; border-bottom: 2px solid #000; }
  .topbar .meta { color: #000; }
  .topbar nav, .skip, .noprint { display: none !important; }
  section.card, .card { border: 0; padding: 0; margin: 0 0 .8rem; }
  .grid { grid-template-columns: 1fr; }
  .findings > li, .actions > li, figure, tr { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  details > *:not(summary) { display: block; }
  a { color: #000; text-decoration: none; }
  .urg-urgent { background: #fff; color: #000; border: 3px solid #000; }
}
"""


def esc(text: object) -> str:
    """HTML-escape any value for text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def human_date(date: dt.date) -> str:
    """A date as clinicians write it, unambiguous: 14 Sep 2026."""
    return f"{date.day} {date.strftime('%b')} {date.year}"


def time_tag(date: dt.date) -> str:
    """A <time> element with the machine-readable date."""
    return f'<time datetime="{date.isoformat()}">{esc(human_date(date))}</time>'


def page(title: str, body: str, *, lang: str = "en-GB") -> str:
    """A complete HTML document around a body."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{esc(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
