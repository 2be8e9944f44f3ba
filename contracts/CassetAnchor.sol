// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title CassetAnchor
/// @notice Records Casset Rights transparency-log roots on chain.
/// @dev Only the account that deployed the contract may anchor: an anchor is a statement by
///      the log operator ("my log had this root at this size"), so nobody else may make it.
///      The owner is immutable; rotating the operator key means deploying a new contract
///      (every anchor names its contract address, so old anchors keep verifying).
///      Nothing is stored: the event is the record, which keeps one anchor near 23,000 gas.
contract CassetAnchor {
    /// @notice The log operator, the only account allowed to call `anchor`.
    address public immutable owner;

    /// @notice A log root `root` of a tree of `treeSize` leaves was anchored.
    event Anchored(bytes32 indexed root, uint64 treeSize);

    /// @notice The caller is not the owner.
    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    /// @notice Anchor the Merkle tree head `root` of size `treeSize` (RFC 9162 hashing).
    function anchor(bytes32 root, uint64 treeSize) external {
        if (msg.sender != owner) revert NotOwner();
        emit Anchored(root, treeSize);
    }
}
