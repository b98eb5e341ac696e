"""fluidml 0.3.4 saves one json value into an existing tree, as a fluidml task sharing the
directory with sweepstore would: `python overwrite.py DIR TASK CONFIG_JSON NAME VALUE_JSON`."""

import json
import sys

from fluidml_types import CsvStore

if __name__ == "__main__":
    base_dir, task, config, name, value = sys.argv[1:6]
    CsvStore(base_dir).save(json.loads(value), name, "json", task, json.loads(config))
