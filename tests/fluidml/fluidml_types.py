"""A fluidml LocalFileStore with one custom type, `csv` (rows of strings, extension `csv`),
registered the way fluidml's documentation shows; shared by the test scripts."""

import csv

from fluidml.storage import LocalFileStore
from fluidml.storage.file_store import TypeInfo


def _save_csv(rows, file):
    csv.writer(file).writerows(rows)


def _load_csv(file):
    return [row for row in csv.reader(file)]


class CsvStore(LocalFileStore):
    def __init__(self, base_dir: str):
        super().__init__(base_dir)
        self.type_registry["csv"] = TypeInfo(_save_csv, _load_csv, "csv")
