"""The pure core of the validation service: rule sets as data, one safe expression language,
a vectorised evaluator over columnar batches and a row-by-row reference evaluator.

numpy and the standard library only: no I/O beyond the packaged rule-set files (``*.toml``,
read with :mod:`importlib.resources`), no clock (callers pass the date a rule set is applied
on).

Null semantics (both evaluators, by construction and by test): SQL-like three-valued logic.
A field that is null, arithmetic on a null, a comparison with a null, ``len``/``matches``/
``in`` on a null and a division by zero are all *unknown*. ``and``/``or``/``not`` follow
Kleene logic (``False and unknown`` is ``False``; ``True or unknown`` is ``True``). A rule
fails a row only when its expression is definitely ``False``: an unknown never fails a rule
unless the rule tests nulls itself (``is_null``/``not_null``), so a rule that must see a value
says so (``not_null(x) and x > 0``).
"""
