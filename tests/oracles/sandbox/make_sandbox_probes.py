#!/usr/bin/env python3
"""Sandbox probes: what transformers' chat-template environment (jinja2 ImmutableSandboxedEnvironment) does with
templates that try to reach Python internals, files or mutation. Writes
tests/ToolTune.Tests/Fixtures/sandbox/probes.json: per probe either {"text": ...} or {"error": exception type}.

Usage: tests/oracles/sandbox/make_sandbox_probes.py   (a python3 with jinja2 3.1.6, as the committed fixture: the
one script not on /usr/bin/python3, whose Debian jinja2 3.1.2 lets list.pop/clear through where 3.1.6 refuses them)
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

PROBES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ ''.__class__.__base__ }}",
    "{{ ''.__doc__ }}",
    "{{ messages.__class__ }}",
    "{{ messages.__len__() }}",
    "{{ messages[0].__class__ }}",
    "{{ messages.pop.__self__ }}",
    "{{ {}.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set ns = namespace(a=1) %}{{ ns.__init__ }}",
    "{% set ns = namespace(a=1) %}{{ ns.__dict__ }}",
    "{% set ns = namespace(a=1) %}{{ ns._Namespace__attrs }}",
    "{{ range.__self__ }}",
    "{{ range.__class__ }}",
    "{{ range.__call__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ raise_exception.__code__ }}",
    "{{ strftime_now.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ request }}",
    "{{ config.items() }}",
    "{{ url_for }}",
    "{{ get_flashed_messages }}",
    "{{ open }}",
    "{{ open('/etc/passwd') }}",
    "{{ __import__('os') }}",
    "{{ eval('1+1') }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ messages|attr('append') }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ '%s'|format(''.__class__) }}",
    "{{ 'x'.format_map({}) }}",
    "{% for x in messages %}{{ loop.__class__ }}{% endfor %}",
    "{% set l = [1] %}{{ l.append(2) }}{{ l }}",
    "{% set l = [1] %}{{ l.pop() }}{{ l }}",
    "{% set d = {'a': 1} %}{{ d.update({'b': 2}) }}{{ d }}",
    "{% set d = {'a': 1} %}{{ d.setdefault('b', 2) }}",
    "{% set d = {'a': 1} %}{{ d.clear() }}",
    "{{ messages.GetType() }}",
    "{{ ''.GetType }}",
    "{{ ''.ToString() }}",
    "{{ tojson }}",
    "{{ ''.mro }}",
    "{{ dict.__class__ }}",
    "{{ dict(a=1).__class__ }}",
    "{{ (1).__class__ }}",
    "{{ 1.0.__class__ }}",
    "{{ none.__class__ }}",
    "{{ true.__class__ }}",
    "{{ (messages|first).__class__ }}",
    "{% macro m() %}x{% endmacro %}{{ m.__globals__ }}",
    "{% macro m() %}x{% endmacro %}{{ m._func }}",
    "{% macro m() %}x{% endmacro %}{{ m.__call__ }}",
    "{{ cycler('a', 'b').__class__ }}",
    "{{ cycler('a', 'b').items }}",
    "{{ joiner().__class__ }}",
    "{% include 'template.jinja' %}",
    "{% import 'os' as os %}",
    "{% extends 'base.jinja' %}",
    "{% from 'x' import y %}",
]


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return datetime(2025, 7, 10).strftime(fmt)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
    x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now
context = {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True}

out = []
for src in PROBES:
    try:
        text = env.from_string(src).render(**context)
        out.append({"template": src, "text": text})
    except Exception as e:  # the exception type is what the test compares
        out.append({"template": src, "error": type(e).__name__})

path = os.path.join(os.path.dirname(__file__), "..", "..", "ToolTune.Tests", "Fixtures", "sandbox", "probes.json")
with open(path, "w") as f:
    json.dump({"jinja2": jinja2.__version__, "probes": out}, f, indent=1)
    f.write("\n")
print(len(out), "probes")
