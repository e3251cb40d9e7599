"""The notebook for the book's readers runs from top to bottom and shows what the book shows."""

from __future__ import annotations

import ast
from pathlib import Path

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "imdb_book.ipynb"


def test_the_book_notebook_runs_and_reaches_the_books_accuracy(real_data: Path,
                                                               tmp_path: Path) -> None:
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:  # run it as a reader would: from nothing
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(figures) == 2  # training and validation loss, then accuracy

    def result_of(source_start: str) -> str:
        cell = next(c for c in code if c.source.startswith(source_start))
        return next(o.data["text/plain"] for o in cell.outputs
                    if o.output_type == "execute_result")

    assert result_of("max([max(sequence)") == "9999"
    retrained = "model = Classifier(NetworkConfig(input_dim=10000), TrainConfig())"
    loss, accuracy = ast.literal_eval(result_of(retrained))
    assert 0.870 <= accuracy <= 0.895 and 0.2 < loss < 0.4
    assert "? this review" in result_of("word_index = imdb.get_word_index()")
