"""The data standard: Avro schemas (.avsc), their loader and the code-system validators.

``schemas/avro/`` holds one schema per record type, namespaced ``gov.zj.supervision.<area>``;
``schemas.loader`` loads them; ``schemas.codes`` and ``schemas.regions`` validate code values.

Conventions every ``.avsc`` follows (checked by ``tests/unit/test_schemas.py``):

- The file name is the record's full name, so ``fastavro.schema.load_schema`` resolves
  references to other files in the same directory. Shared types live in ``common``:
  ``Envelope`` (embedded as field ``envelope`` in every business record), ``CodedValue``
  (coded values travel as code plus name), ``OfficerRef``, ``Counterpart``, ``SourcePosition``.
- Every record and field has a ``doc`` "中文 / English"; every field has ``level``
  (Zhejiang public-data grading: L1 public, L2 internal, L3 sensitive, L4 highly sensitive);
  a field that can hold personal information of a natural person has ``pii`` (``name``,
  ``id_number``, ``phone`` or ``address``). Fields naming a party that may be a natural
  person (counterparts, supervised objects, complaint targets) are tagged too: the tag is
  static, so it errs on the side of masking.
- Times are ``timestamp-millis`` (UTC), dates are ``date``; money is CNY yuan as
  ``bytes``/``decimal`` with precision 18 and scale 2 (Python ``decimal.Decimal``).
- Optional fields are ``["null", T]`` with ``"default": null``; enums are few and carry a
  ``default`` symbol, so adding fields or symbols stays BACKWARD compatible.
"""
