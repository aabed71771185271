"""Cleaners: each turns a raw text column into clean, typed, flagged columns.

`ids` (resident IDs), `values` (text, dates, year-months, money, counts, phones, enums,
credit codes), `names` (names and pinyin), `addresses` (community / compound /
building / unit / room), `types`, the registry of field types (each type's cleaner,
derived columns and issue codes), and `frame`, which applies a feed schema to the rows
of one file. Pure functions on polars data: they read and write no table.
"""
