"""gtbench: see, measure and explain how DynamoDB global tables replicate."""

__version__ = "0.1.0"
