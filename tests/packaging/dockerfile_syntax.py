"""A small Dockerfile reader: enough of the reference syntax to check ours
without a Docker engine, and strict about what it does not know."""

import dataclasses
import json
import re

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
    "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
    "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}
JSON_FORM = {"CMD", "ENTRYPOINT", "SHELL"}  # SHELL accepts only this form
FROM_RE = re.compile(r"^(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<name>[a-z][a-z0-9_.-]*))?$",
                     re.IGNORECASE)
FLAG_RE = re.compile(r"--([a-z-]+)(?:=(\S*))?")
COPY_FLAGS = {"from", "chown", "chmod", "link", "parents", "exclude"}


class DockerfileError(ValueError):
    pass


@dataclasses.dataclass
class Instruction:
    line: int
    keyword: str
    args: str
    flags: dict = dataclasses.field(default_factory=dict)

    def exec_form(self):
        """The JSON array of an exec-form instruction, or None for shell form."""
        if not self.args.startswith("["):
            return None
        value = json.loads(self.args)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DockerfileError(f"line {self.line}: {self.keyword} is not a JSON array of strings")
        return value


@dataclasses.dataclass
class Stage:
    name: str
    image: str
    line: int
    instructions: list

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword):
        found = self.all(keyword)
        return found[-1] if found else None


@dataclasses.dataclass
class Dockerfile:
    global_args: dict
    stages: list

    def stage(self, name):
        return next(s for s in self.stages if s.name == name)


def _logical_lines(text):
    """Joins continuation lines; drops comments and blank lines as the
    builder does (a comment may sit inside a continued instruction)."""
    current, start = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if start is None:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].rstrip())
            continue
        current.append(stripped)
        yield start, " ".join(part for part in current if part)
        current, start = [], None
    if current:
        raise DockerfileError(f"line {start}: the file ends inside a continued instruction")


def _split_flags(keyword, line, args):
    flags = {}
    while args.startswith("--"):
        word, _, rest = args.partition(" ")
        match = FLAG_RE.fullmatch(word)
        if not match:
            raise DockerfileError(f"line {line}: bad flag {word!r}")
        name, value = match.group(1), match.group(2)
        if keyword in ("COPY", "ADD") and name not in COPY_FLAGS:
            raise DockerfileError(f"line {line}: unknown {keyword} flag --{name}")
        flags[name] = value
        args = rest.lstrip()
    return flags, args


def _substitute(value, args):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def parse(text):
    """Parses a Dockerfile; raises DockerfileError on anything malformed."""
    global_args, stages = {}, []
    for line, content in _logical_lines(text):
        keyword, _, args = content.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword not in INSTRUCTIONS:
            raise DockerfileError(f"line {line}: unknown instruction {keyword}")
        if not args:
            raise DockerfileError(f"line {line}: {keyword} without arguments")
        flags = {}
        if keyword in ("COPY", "ADD", "RUN", "FROM"):
            flags, args = _split_flags(keyword, line, args)
        instruction = Instruction(line, keyword, args, flags)
        if keyword in JSON_FORM and args.startswith("["):
            try:
                instruction.exec_form()
            except json.JSONDecodeError as e:
                raise DockerfileError(f"line {line}: {keyword} is not valid JSON: {e}") from e
        if keyword == "SHELL" and instruction.exec_form() is None:
            raise DockerfileError(f"line {line}: SHELL must be a JSON array")
        if keyword == "FROM":
            match = FROM_RE.match(args)
            if not match:
                raise DockerfileError(f"line {line}: malformed FROM {args!r}")
            name = match.group("name") or str(len(stages))
            if any(s.name == name for s in stages):
                raise DockerfileError(f"line {line}: stage {name} defined twice")
            image = _substitute(match.group("image"), global_args)
            stages.append(Stage(name, image, line, []))
            continue
        if not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {line}: {keyword} before the first FROM")
            name, _, default = args.partition("=")
            global_args[name] = default
            continue
        stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM")
    return Dockerfile(global_args, stages)
