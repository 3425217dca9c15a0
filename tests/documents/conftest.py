from tests.documents.fixtures import document_store

__all__ = ["document_store"]
