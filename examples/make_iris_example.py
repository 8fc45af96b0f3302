"""Build the built-in example model: a scikit-learn pipeline trained on the iris data
set (shipped inside scikit-learn, no download), saved with joblib, plus the metadata a
model card starts from. Deterministic: same library versions -> same files.

    python examples/make_iris_example.py          # writes examples/iris/
"""
import json
import pathlib

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

out = pathlib.Path(__file__).resolve().parent / "iris"
out.mkdir(exist_ok=True)

data = load_iris()
x_train, x_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
)
hyper = {"C": 1.0, "max_iter": 200}
model = Pipeline(
    [("scaler", StandardScaler()), ("clf", LogisticRegression(random_state=0, **hyper))]
)
model.fit(x_train, y_train)
accuracy = float(model.score(x_test, y_test))

joblib.dump(model, out / "model.joblib")
(out / "config.json").write_text(
    json.dumps(
        {"feature_names": list(data.feature_names), "class_names": list(data.target_names)},
        indent=2,
    )
    + "\n"
)
metadata = {
    "framework": "scikit-learn",
    "library_versions": {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
    },
    "task": "classification",
    "metrics": {"accuracy": round(accuracy, 4), "test_samples": int(len(y_test))},
    "hyperparameters": hyper,
    "training": {"dataset": "iris (sklearn.datasets.load_iris)", "split_seed": 0, "train_samples": int(len(y_train))},
    "feature_names": list(data.feature_names),
}
(out.parent / "iris-metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
print(f"wrote {out}/model.joblib (accuracy {accuracy:.4f})")
