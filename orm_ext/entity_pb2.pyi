from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Meaning(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEANING_NONE: _ClassVar[Meaning]
    TEXT: _ClassVar[Meaning]
    JSON: _ClassVar[Meaning]
    COMPRESSED: _ClassVar[Meaning]
    DATE: _ClassVar[Meaning]
MEANING_NONE: Meaning
TEXT: Meaning
JSON: Meaning
COMPRESSED: Meaning
DATE: Meaning

class Key(_message.Message):
    __slots__ = ("kind", "id", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: int
    name: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class ArrayValue(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("null_value", "boolean_value", "integer_value", "double_value", "timestamp_value", "string_value", "blob_value", "key_value", "array_value", "meaning")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOLEAN_VALUE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BLOB_VALUE_FIELD_NUMBER: _ClassVar[int]
    KEY_VALUE_FIELD_NUMBER: _ClassVar[int]
    ARRAY_VALUE_FIELD_NUMBER: _ClassVar[int]
    MEANING_FIELD_NUMBER: _ClassVar[int]
    null_value: bool
    boolean_value: bool
    integer_value: int
    double_value: float
    timestamp_value: int
    string_value: str
    blob_value: bytes
    key_value: Key
    array_value: ArrayValue
    meaning: int
    def __init__(self, null_value: _Optional[bool] = ..., boolean_value: _Optional[bool] = ..., integer_value: _Optional[int] = ..., double_value: _Optional[float] = ..., timestamp_value: _Optional[int] = ..., string_value: _Optional[str] = ..., blob_value: _Optional[bytes] = ..., key_value: _Optional[_Union[Key, _Mapping]] = ..., array_value: _Optional[_Union[ArrayValue, _Mapping]] = ..., meaning: _Optional[int] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("key", "properties")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    key: Key
    properties: _containers.MessageMap[str, Value]
    def __init__(self, key: _Optional[_Union[Key, _Mapping]] = ..., properties: _Optional[_Mapping[str, Value]] = ...) -> None: ...
