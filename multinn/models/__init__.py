"""The MultINN modes as Keras models: Joint, Composer, Jamming, Feedback."""

from multinn.models.feedback_module import FeedbackModule
from multinn.models.multinn import MultINN
from multinn.models.multinn_composer import MultINNComposer
from multinn.models.multinn_feedback import MultINNFeedback
from multinn.models.multinn_jamming import MultINNJamming
from multinn.models.multinn_joint import MultINNJoint

MODES = {"joint": MultINNJoint, "composer": MultINNComposer, "jamming": MultINNJamming, "feedback": MultINNFeedback}
"""Mode name -> model class."""

__all__ = ["FeedbackModule", "MODES", "MultINN", "MultINNComposer", "MultINNFeedback", "MultINNJamming", "MultINNJoint"]
