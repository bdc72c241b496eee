"""Evaluation: distributed prediction, exact gathering, accuracy metrics."""

from crossmost_train.evaluation.branches import BRANCHES as BRANCHES
from crossmost_train.evaluation.branches import combine_joint as combine_joint
from crossmost_train.evaluation.branches import pool_views as pool_views
from crossmost_train.evaluation.metrics import MODELNET40_HARD as MODELNET40_HARD
from crossmost_train.evaluation.metrics import MODELNET40_MEDIUM as MODELNET40_MEDIUM
from crossmost_train.evaluation.metrics import accuracy as accuracy
from crossmost_train.evaluation.metrics import class_subsets as class_subsets
from crossmost_train.evaluation.metrics import confusion_matrix as confusion_matrix
from crossmost_train.evaluation.metrics import per_class_accuracy as per_class_accuracy
from crossmost_train.evaluation.metrics import subset_accuracy as subset_accuracy
from crossmost_train.evaluation.runner import Predictions as Predictions
from crossmost_train.evaluation.runner import evaluate_model as evaluate_model
from crossmost_train.evaluation.runner import gather_predictions as gather_predictions
from crossmost_train.evaluation.runner import predict_batches as predict_batches
from crossmost_train.evaluation.runner import score_predictions as score_predictions
